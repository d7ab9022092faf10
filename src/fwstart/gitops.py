"""The few git operations fwstart needs, run as `git` subprocesses.

fwstart never changes the person's git configuration: its own commits carry an
identity given on each command line (``-c user.name=...``), and they are made
with plumbing (``commit-tree``), so no hook or signing set-up of theirs runs.
"""

import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from fwstart.errors import FwstartError

BASE_REF = "refs/fwstart/base"
UNCOMMITTED_REF = "refs/fwstart/uncommitted"  # the person's uncommitted work, before an update
_IDENTITY = ("-c", "user.name=fwstart", "-c", "user.email=fwstart@localhost")
_QUIET = ("-c", "commit.gpgsign=false", "-c", "core.quotepath=false", "--no-optional-locks")


class GitError(FwstartError):
    """A git command fwstart ran failed."""


@dataclass(frozen=True)
class Repo:
    """A git repository and where a project sits in its working tree."""

    git_dir: Path
    top: Path
    prefix: str  # the project's folder relative to ``top``, "" or ending in "/"

    def git(self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] = {}) -> bytes:
        """Run ``git ARGS`` on this repository (from its top) and return its output."""
        return run(
            ["--git-dir", str(self.git_dir), "--work-tree", str(self.top), *args],
            self.top,
            stdin,
            env,
        )


def available() -> bool:
    """True when a git executable is on PATH."""
    return shutil.which("git") is not None


def run(
    args: Sequence[str], cwd: Path, stdin: bytes | None = None, env: Mapping[str, str] = {}
) -> bytes:
    """Run ``git ARGS`` in ``cwd`` and return its standard output.

    Raises:
        GitError: with git's own message when the command fails.
    """
    result = subprocess.run(
        ["git", *_QUIET, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        env={**os.environ, **env},
        check=False,
    )
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip() or f"exit {result.returncode}"
        raise GitError(f"git {args[0]} failed in {cwd}: {message}")
    return result.stdout


def find_repo(path: Path) -> Repo | None:
    """The repository whose working tree holds ``path``, or None outside git."""
    if not available():
        return None
    try:
        out = run(["rev-parse", "--absolute-git-dir", "--show-toplevel", "--show-prefix"], path)
    except GitError:
        return None
    git_dir, top, prefix = [*out.decode().split("\n"), "", ""][:3]
    if not top:  # inside .git itself, or a bare repository
        return None
    repo = Repo(Path(git_dir), Path(top), prefix)
    if prefix and _ignored(repo, prefix):  # a folder the repository keeps out of it
        return None
    return repo


def _ignored(repo: Repo, prefix: str) -> bool:
    try:
        repo.git("check-ignore", "-q", prefix.rstrip("/"))
    except GitError:
        return False
    return True


def init(path: Path) -> Repo:
    """Make ``path`` a new repository (the person's default branch name applies)."""
    run(["init", "-q"], path)
    repo = find_repo(path)
    if repo is None:
        raise GitError(f"git init did not make {path} a repository.")
    return repo


def write_tree(repo: Repo, folder: Path, files: Iterable[Path], own_index: bool = False) -> str:
    """Store ``files`` of ``folder`` as a tree object (paths relative to ``folder``).

    A scratch index is used, unless ``own_index`` (a new repository whose index
    should list exactly these files).
    """
    with tempfile.TemporaryDirectory(prefix="fwstart-index-") as scratch:
        env = {} if own_index else {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        listing = b"".join(str(f).encode() + b"\0" for f in files)
        common = ["--git-dir", str(repo.git_dir), "--work-tree", str(folder)]
        run([*common, "update-index", "--add", "-z", "--stdin"], folder, listing, env)
        return run([*common, "write-tree"], folder, env=env).decode().strip()


def commit(repo: Repo, tree: str, parents: Sequence[str], message: str) -> str:
    """Make a commit of ``tree`` as fwstart, whatever identity the person configured."""
    parent_args = [arg for parent in parents for arg in ("-p", parent)]
    out = repo.git(*_IDENTITY, "commit-tree", tree, *parent_args, "-m", message)
    return out.decode().strip()


def resolve(repo: Repo, ref: str) -> str | None:
    """The commit ``ref`` points at, or None when it does not exist."""
    try:
        return repo.git("rev-parse", "--verify", "-q", f"{ref}^{{commit}}").decode().strip()
    except GitError:
        return None


def set_refs(repo: Repo, refs: Mapping[str, str]) -> None:
    """Point each ref (a branch, HEAD or fwstart's own ref) at its commit, all or none."""
    commands = "".join(f"update {ref} {commit_id}\n" for ref, commit_id in refs.items())
    repo.git("update-ref", "-m", "fwstart", "--stdin", stdin=commands.encode())


def history(repo: Repo, ref: str) -> list[str]:
    """The commits reachable from ``ref``, newest first (empty when it does not exist)."""
    return repo.git("rev-list", ref).decode().split() if resolve(repo, ref) else []


def blob_ids(repo: Repo, specs: Sequence[str]) -> list[str | None]:
    """The object id of each ``commit:path`` in ``specs`` (None where it is missing)."""
    lines = b"".join(spec.encode() + b"\n" for spec in specs)
    out = repo.git("cat-file", "--batch-check=%(objectname) %(objecttype)", stdin=lines)
    return [
        line.split()[0] if line.endswith(" blob") else None for line in out.decode().splitlines()
    ]


def blobs(repo: Repo, specs: Sequence[str]) -> list[bytes | None]:
    """The contents of each ``commit:path`` in ``specs`` (None where it is missing)."""
    out = repo.git("cat-file", "--batch", stdin=b"".join(s.encode() + b"\n" for s in specs))
    found: list[bytes | None] = []
    at = 0
    for _ in specs:  # each: "ID TYPE SIZE" and the contents, or "SPEC missing"
        end = out.index(b"\n", at)
        header, at = out[at:end].split(), end + 1
        if header[-1] == b"missing":
            found.append(None)
            continue
        size = int(header[2])
        found.append(out[at : at + size] if header[1] == b"blob" else None)
        at += size + 1
    return found


def hash_files(repo: Repo, paths: Sequence[Path]) -> list[str]:
    """The blob id each file would have, without storing them."""
    listing = "".join(f"{path}\n" for path in paths).encode()
    return repo.git("hash-object", "--stdin-paths", stdin=listing).decode().split()


def tree_blobs(repo: Repo, commit_id: str) -> dict[str, str]:
    """Every file of ``commit_id``, by path, with its blob id."""
    out = repo.git("ls-tree", "-r", "-z", commit_id).decode()
    entries = (entry.split("\t", 1) for entry in out.split("\0") if entry)
    return {path: meta.split()[2] for meta, path in entries}


def tree_sizes(repo: Repo, commit_id: str) -> list[tuple[str, int]]:
    """Every file of ``commit_id`` with its size, without reading any of them."""
    out = repo.git("ls-tree", "-r", "-l", "-z", commit_id).decode()
    entries = (entry.split("\t", 1) for entry in out.split("\0") if entry)
    return [(path, int(meta.split()[3]) if meta.split()[3] != "-" else 0) for meta, path in entries]


def extract(repo: Repo, commit_id: str, folder: Path) -> None:
    """Write the files of ``commit_id`` into ``folder``."""
    archive = repo.git("archive", "--format=tar", commit_id)
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")


def changed_paths(repo: Repo, folder: Path) -> list[str]:
    """Uncommitted changes and untracked files under ``folder``, as ``git status`` lists them."""
    out = repo.git("status", "--porcelain", "--untracked-files=all", "--", str(folder))
    return [line[3:] for line in out.decode().splitlines()]


def unmerged_paths(repo: Repo, folder: Path) -> list[str]:
    """Files under ``folder`` with an unresolved merge conflict (git's unmerged entries)."""
    out = repo.git("diff", "--name-only", "--diff-filter=U", "--", str(folder))
    return out.decode().splitlines()


def save_uncommitted(repo: Repo) -> tuple[str, str] | None:
    """Keep the index and the tracked files' changes as a stash commit, changing neither.

    Returns:
        The commits of the work tree and of the index (``git stash create``'s commit and
        its second parent), or None when nothing is uncommitted. The work-tree commit is
        kept on ``UNCOMMITTED_REF`` so that git's garbage collection leaves it.
    """
    message = "fwstart update: uncommitted changes before the update"
    saved = repo.git(*_IDENTITY, "stash", "create", message).decode().strip()
    if not saved:
        return None
    set_refs(repo, {UNCOMMITTED_REF: saved})
    return saved, repo.git("rev-parse", f"{saved}^2").decode().strip()


def store_blob(repo: Repo, data: bytes) -> str:
    """Store ``data`` as a blob and return its id."""
    return repo.git("hash-object", "-w", "--stdin", stdin=data).decode().strip()


def set_index(repo: Repo, entries: Sequence[str]) -> None:
    """Apply ``git update-index --index-info`` lines (mode sha stage<TAB>path) in one go."""
    repo.git("update-index", "--index-info", stdin="".join(f"{e}\n" for e in entries).encode())
