"""The base of a project: the template exactly as fwstart rendered it, before any edit.

`fwstart update` merges base → new template into the person's tree, so every
render is kept where a later fwstart (even a development checkout) can find it:

- in git, as a commit on ``refs/fwstart/base``, a ref only fwstart commits to; each
  render is a child of the previous one, so all stay reachable. The base of a
  project is the newest render whose ``.fwstart-answers.yml`` equals the project's,
  so an update that was undone (or a branch that never had it) still finds its own;
- outside git, as ``.fwstart/base.tar.gz`` in the project.

A new project outside any repository becomes one, whose first commit is the render.
"""

import gzip
import os
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from fwstart import gitops, yamlio
from fwstart.answers_file import ANSWERS_FILENAME
from fwstart.errors import FwstartError
from fwstart.gitops import BASE_REF, Repo

SNAPSHOT = Path(".fwstart") / "base.tar.gz"
# A render is well under 5 MB in a few hundred files: a snapshot holding more is not one.
SNAPSHOT_LIMIT_BYTES = 64 * 2**20
SNAPSHOT_LIMIT_FILES = 10_000


@dataclass(frozen=True)
class Base:
    """Where a project's base was found: ``git``, ``snapshot``, or ``none``; and the
    framework(s) fwstart rendered it for (empty when no render of it is known)."""

    source: str
    frameworks: frozenset[str] = frozenset()


def record_new(project: Path, files: Sequence[Path], use_git: bool, message: str) -> str:
    """Keep the fresh render of ``project`` as its base; return where it went.

    Outside a repository (and with ``use_git``), ``project`` becomes one whose first
    commit is the render; inside one, only ``refs/fwstart/base`` moves, never the
    person's branch. Without git, the render is kept in ``.fwstart/base.tar.gz``.
    """
    if not use_git or not gitops.available():
        write_snapshot(project, project, files)
        return "snapshot"
    repo = gitops.find_repo(project)
    if repo is not None:
        record_commit(repo, project, files, message)
        return "git-ref"
    repo = gitops.init(project)
    tree = gitops.write_tree(repo, project, files, own_index=True)
    commit_id = gitops.commit(repo, tree, [], message)
    gitops.set_refs(repo, {"HEAD": commit_id, BASE_REF: commit_id})
    return "git-init"


def record_commit(repo: Repo, folder: Path, files: Sequence[Path], message: str) -> str:
    """Commit ``files`` of ``folder`` onto ``refs/fwstart/base``; return the commit."""
    tree = gitops.write_tree(repo, folder, files)
    tip = gitops.resolve(repo, BASE_REF)
    commit_id = gitops.commit(repo, tree, [tip] if tip else [], message)
    gitops.set_refs(repo, {BASE_REF: commit_id})
    return commit_id


def write_snapshot(project: Path, folder: Path, files: Sequence[Path]) -> None:
    """Replace the project's snapshot with ``files`` of ``folder``, atomically."""
    target = project / SNAPSHOT
    target.parent.mkdir(exist_ok=True)
    handle, scratch = tempfile.mkstemp(prefix=".base-", dir=target.parent)
    os.close(handle)
    try:
        # No dates or owners inside: the same render gives the same bytes.
        with (
            open(scratch, "wb") as raw,
            gzip.GzipFile("", "wb", fileobj=raw, mtime=0) as packed,
            tarfile.open(fileobj=packed, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for relative in sorted(files):
                tar.add(folder / relative, str(relative), recursive=False, filter=_anonymous)
        os.replace(scratch, target)
    finally:
        Path(scratch).unlink(missing_ok=True)


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    return info


def load_base(project: Path, into: Path, name: str) -> Base:
    """Write the project's base into ``into``; say where it came from.

    Args:
        project: the project's folder.
        into: an empty folder.
        name: the project's name, as its answers file records it.

    Raises:
        FwstartError: when the snapshot is unreadable, or holds more than a render.
    """
    repo = gitops.find_repo(project)
    if repo is not None and (commit_id := _matching_render(repo, project)):
        where, total = f"The render {commit_id[:12]} on {BASE_REF}", 0
        for count, (path, size) in enumerate(gitops.tree_sizes(repo, commit_id), 1):
            total += size
            _check_limits(where, count, total, path, _DROP_REF)
        gitops.extract(repo, commit_id, into)
        return Base("git", _framework(into))
    snapshot = project / SNAPSHOT
    if snapshot.is_file():
        _extract_snapshot(snapshot, into)
        return Base("snapshot", _framework(into))
    # The answers file matches no render (edited by hand): what were this project's?
    return Base("none", _render_frameworks(repo, name) if repo is not None else frozenset())


def _extract_snapshot(snapshot: Path, into: Path) -> None:
    """Extract, member by member, refusing before any write past the limits."""
    try:
        with tarfile.open(snapshot) as tar:
            total = 0
            for count, member in enumerate(iter(tar.next, None), 1):
                total += member.size  # the header's size, read before any of the data
                _check_limits(str(snapshot), count, total, member.name, _RESTORE)
                tar.extract(member, into, filter="data")
    except (tarfile.TarError, OSError, EOFError) as error:
        raise FwstartError(f"{snapshot} is damaged ({error}).", _RESTORE) from None


def _check_limits(where: str, count: int, total: int, name: str, hint: str) -> None:
    """Refuse a base past what any render of fwstart's holds (a decompression bomb)."""
    if count > SNAPSHOT_LIMIT_FILES or total > SNAPSHOT_LIMIT_BYTES:
        raise FwstartError(
            f"{where} would extract more than {SNAPSHOT_LIMIT_BYTES // 2**20} MiB ({name} "
            f"brings it to {total} bytes) or {SNAPSHOT_LIMIT_FILES} files: far more than any "
            "render of fwstart's, so it is not one.",
            hint,
        )


_DROP_REF = (
    f"Remove that ref (git update-ref -d {BASE_REF}): the update then compares with the "
    "current template for the recorded answers."
)
_RESTORE = (
    "Restore it from a backup or version control; it is fwstart's copy of the template as it "
    "was rendered for this project."
)


def _framework(render: Path) -> frozenset[str]:
    """The framework a render's own answers file records."""
    path = render / ANSWERS_FILENAME
    return _frameworks([path.read_bytes()] if path.is_file() else [], None)


def _render_frameworks(repo: Repo, name: str) -> frozenset[str]:
    """The frameworks of the renders on fwstart's ref made for a project of this name."""
    renders = gitops.history(repo, BASE_REF)
    return _frameworks(gitops.blobs(repo, [f"{c}:{ANSWERS_FILENAME}" for c in renders]), name)


def _frameworks(records: Sequence[bytes | None], name: str | None) -> frozenset[str]:
    found = set()
    for data in records:
        try:
            record = yamlio.load(data.decode()) if data else None
        except (yaml.YAMLError, UnicodeDecodeError):
            continue  # not one fwstart wrote: it says nothing
        if isinstance(record, dict) and name in (None, record.get("project_name")):
            found.add(str(record.get("framework")))
    return frozenset(found - {"None"})


def _matching_render(repo: Repo, project: Path) -> str | None:
    """The newest render on fwstart's ref whose answers file is the project's."""
    renders = gitops.history(repo, BASE_REF)
    if not renders:
        return None
    wanted = gitops.hash_files(repo, [project / ANSWERS_FILENAME])[0]
    found = gitops.blob_ids(repo, [f"{c}:{ANSWERS_FILENAME}" for c in renders])
    candidates = [c for c, blob in zip(renders, found, strict=True) if blob == wanted]
    if len(candidates) < 2:
        return candidates[0] if candidates else None
    # Renders with the same answers (a template edited without a new version): the one
    # the project's files are closest to, so an update that was undone is found again.
    return max(candidates, key=lambda commit_id: _files_in_common(repo, commit_id, project))


def _files_in_common(repo: Repo, commit_id: str, project: Path) -> int:
    rendered = gitops.tree_blobs(repo, commit_id)
    present = [path for path in rendered if (project / path).is_file()]
    ours = gitops.hash_files(repo, [project / path for path in present])
    return sum(rendered[path] == blob for path, blob in zip(present, ours, strict=True))
