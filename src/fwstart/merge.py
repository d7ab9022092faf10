"""Three-way merge of a template change (base → new) into the person's files.

Each file is decided on its own, the way ``git merge`` decides it, with three
choices of fwstart's: a file the person deleted stays deleted, a file the person
changed but the template dropped is kept, and a file of the person's where the
template now adds one of the same name is left as it is (both listed). Text that both
changed is merged line by line by ``git merge-file``, with its usual markers.

Nothing is ever written through a symbolic link: a file under a linked folder (or a
link itself) that the template changes is left for the person, as a conflict.
"""

import os
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from fwstart.errors import FwstartError

ADDED, UPDATED, REMOVED, MERGED = "added", "updated", "removed", "merged"
CONFLICT, KEPT_YOURS, KEPT_DELETED = "conflict", "kept yours", "kept deleted"
BOTH_ADDED, LINKED = "both added", "through a link"
# Each file is written beside itself under this name, then renamed over it.
SCRATCH_SUFFIX = ".fwstart-new"


@dataclass(frozen=True)
class Version:
    """One side of the merge: a file's bytes and whether it is executable."""

    data: bytes
    executable: bool = False


@dataclass(frozen=True)
class Change:
    """What the update does to one file of the project.

    Attributes:
        path: relative to the project, with ``/`` separators.
        action: one of the module's action names.
        result: what the file becomes; None to delete it, or to leave it as it is
            (``kept yours``, ``kept deleted``, a binary conflict).
        base, ours, new: the three versions, for git's conflict stages.
    """

    path: str
    action: str
    result: Version | None
    base: Version | None
    ours: Version | None
    new: Version | None

    @property
    def conflicted(self) -> bool:
        """True when the person must look at this file."""
        return self.action in (CONFLICT, KEPT_YOURS, BOTH_ADDED, LINKED)

    @property
    def writes(self) -> bool:
        """True when the file on disk changes."""
        return self.action in (ADDED, UPDATED, REMOVED, MERGED) or (
            self.action == CONFLICT and self.result is not None
        )


def read_tree(root: Path) -> dict[str, Version]:
    """Every file under ``root``, by relative path."""
    return {
        path.relative_to(root).as_posix(): read_version(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def read_version(path: Path) -> Version:
    """A file's bytes and executable bit."""
    return Version(path.read_bytes(), bool(path.stat().st_mode & 0o100))


def merge_trees(
    base: Mapping[str, Version], new: Mapping[str, Version], project: Path, labels: tuple[str, str]
) -> list[Change]:
    """Decide every file the template has or had; the person's own files are left alone.

    Args:
        base: the template as rendered for the project before.
        new: the template as rendered now.
        project: the person's project folder.
        labels: names for the base and new sides in conflict markers.
    """
    changes = []
    for path in sorted(set(base) | set(new)):
        before, after = base.get(path), new.get(path)
        if (link := _link_on(project, path)) is not None:
            if before != after:  # never written; a link where the template adds a file
                added = before is None and link == project / path  # is one of the person's
                changes.append(
                    Change(path, BOTH_ADDED if added else LINKED, None, before, None, after)
                )
            continue
        mine = project / path
        ours = read_version(mine) if mine.is_file() else None
        change = merge_file(path, before, ours, after, labels)
        if change is not None:
            changes.append(change)
    return changes


def _link_on(project: Path, path: str) -> Path | None:
    """The first symbolic link on the way from ``project`` to ``path`` (``path`` included).

    Writing through a linked folder would change files outside what git sees of the
    project (perhaps outside the project), which its undo could not bring back.
    """
    folder = project
    for part in Path(path).parts:
        folder = folder / part
        if folder.is_symlink():
            return folder
    return None


def merge_file(
    path: str,
    base: Version | None,
    ours: Version | None,
    new: Version | None,
    labels: tuple[str, str],
) -> Change | None:
    """Decide one file; None when nothing is to be done."""
    if base == new or ours == new:
        return None

    def change(action: str, result: Version | None) -> Change:
        return Change(path, action, result, base, ours, new)

    if ours == base:
        return change(REMOVED if new is None else ADDED if base is None else UPDATED, new)
    if ours is None:
        return change(KEPT_DELETED, None)
    if new is None:
        return change(KEPT_YOURS, None)
    if base is None:  # a file of the person's (perhaps one git ignores) is left alone
        return change(BOTH_ADDED, None)
    merged = merge_text(ours.data, base.data, new.data, labels)
    if merged is None:  # binary: keep theirs on disk, git's stages hold the others
        return change(CONFLICT, None)
    text, clean = merged
    return change(MERGED if clean else CONFLICT, Version(text, ours.executable))


def merge_text(
    ours: bytes, base: bytes, new: bytes, labels: tuple[str, str]
) -> tuple[bytes, bool] | None:
    """Merge with ``git merge-file``; return the text and whether it merged cleanly.

    Returns None for binary files, which git does not merge line by line.
    """
    if any(b"\0" in data for data in (ours, base, new)):
        return None
    with tempfile.TemporaryDirectory(prefix="fwstart-merge-") as scratch:
        files = [Path(scratch) / name for name in ("ours", "base", "new")]
        for file, data in zip(files, (ours, base, new), strict=True):
            file.write_bytes(data)
        names = ["-L", "yours", "-L", labels[0], "-L", labels[1]]
        try:
            result = subprocess.run(
                ["git", "merge-file", "-p", *names, *map(str, files)],
                capture_output=True,
                check=False,
            )
        except FileNotFoundError:
            raise FwstartError(
                "fwstart update needs git, to merge the template's changes into your files.",
                "Install git (https://git-scm.com) and run the update again.",
            ) from None
    if result.returncode < 0 or result.returncode > 127:
        raise FwstartError(f"git merge-file failed: {result.stderr.decode(errors='replace')}")
    return result.stdout, result.returncode == 0


def blocked_paths(project: Path, changes: Sequence[Change]) -> list[str]:
    """Paths a change must write where the project has a folder, or a file above them."""
    blocked = []
    for change in changes:
        if not change.writes or change.result is None:
            continue
        target = project / change.path
        above = [folder for folder in target.parents if folder.is_relative_to(project)]
        if (target.is_dir() and not target.is_symlink()) or any(
            folder.exists() and not folder.is_dir() for folder in above
        ):
            blocked.append(change.path)
    return blocked


def write_changes(project: Path, changes: Sequence[Change]) -> None:
    """Each file replaced in one rename; removed files' empty folders go too."""
    for change in changes:
        if not change.writes:
            continue
        target = project / change.path
        if change.result is None:
            target.unlink(missing_ok=True)
            for folder in target.parents:
                if folder == project or any(folder.iterdir()):
                    break
                folder.rmdir()
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = scratch_for(target)
        scratch.write_bytes(change.result.data)
        os.chmod(scratch, 0o755 if change.result.executable else 0o644)
        os.replace(scratch, target)


def scratch_for(target: Path) -> Path:
    """Where ``target``'s new text is written before it is renamed over it."""
    return target.with_name(f".{target.name}{SCRATCH_SUFFIX}")


def is_scratch(name: str) -> bool:
    """Whether a file name is one of those scratch files (a killed update leaves them)."""
    return name.startswith(".") and name.endswith(SCRATCH_SUFFIX)


def remove_scratch(project: Path, paths: Iterable[str]) -> None:
    """Remove the scratch files a killed update left beside any of ``paths``."""
    for path in paths:
        if _link_on(project, path) is None:
            scratch = scratch_for(project / path)
            if scratch.is_file() and not scratch.is_symlink():
                scratch.unlink()
