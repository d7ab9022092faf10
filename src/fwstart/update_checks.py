"""What `fwstart update` refuses, before anything is written: what git could not undo
(no commit yet, unresolved conflicts, uncommitted changes unless allowed), another
framework than the project's, and a file to write where the project has a folder."""

import shlex
from collections.abc import Sequence
from pathlib import Path

from fwstart import gitops
from fwstart.answers_file import ANSWERS_FILENAME, SavedAnswers
from fwstart.base import Base
from fwstart.errors import InputError
from fwstart.merge import Change, blocked_paths, is_scratch


def check_repo(repo: gitops.Repo, project: Path, dry_run: bool, allow_dirty: bool) -> None:
    """Refuse what git could not undo; a dry run says what the update would refuse."""
    _check_resolved(repo, project)
    if dry_run:
        return
    if gitops.resolve(repo, "HEAD") is None:
        folder = shlex.quote(str(project))
        raise InputError(
            f"The repository of {project} ({repo.top}) has no commit yet, so git could not "
            "undo the update.",
            f"Commit the project first (git -C {folder} add -A && git -C {folder} commit -m "
            "'Start'), then run fwstart update again.",
        )
    if not allow_dirty:
        _check_clean(repo, project)


def check_framework(base: Base, saved: SavedAnswers, project: Path) -> None:
    """The framework never changes: an answers file edited to another one is refused."""
    if not base.frameworks or saved.framework in base.frameworks:
        return
    made = " or ".join(sorted(base.frameworks))
    raise InputError(
        f"{project / ANSWERS_FILENAME} says framework: {saved.framework}, but the project was "
        f"made for {made} (fwstart's render of it says so).",
        f"fwstart update never changes the framework: put framework: {made} back in "
        f"{ANSWERS_FILENAME}. Another framework is a new project: fwstart new NEW-DIR --answers "
        f"{ANSWERS_FILENAME} --yes, then move your code.",
    )


def _check_resolved(repo: gitops.Repo, project: Path) -> None:
    """Never merge into a file that still holds the markers of an unresolved conflict."""
    if unmerged := gitops.unmerged_paths(repo, project):
        raise InputError(
            f"{project} has unresolved conflicts ({', '.join(unmerged)}).",
            "Resolve the <<<<<<< / >>>>>>> markers, git add the files and commit, then update.",
        )


def check_writable(project: Path, changes: Sequence[Change]) -> None:
    """Refuse a change that must write where the project has a folder."""
    if blocked := blocked_paths(project, changes):
        raise InputError(
            f"The template writes {', '.join(blocked)}, but the project has a folder there "
            "(or a file where the template needs a folder).",
            "Move it aside and run the update again. Nothing was written.",
        )


def _check_clean(repo: gitops.Repo, project: Path) -> None:
    # A scratch file of an update killed while writing is fwstart's: it goes, never blocks.
    changed = gitops.changed_paths(repo, project)
    if dirty := [path for path in changed if not is_scratch(Path(path.strip('"')).name)]:
        shown = ", ".join(dirty[:5]) + (", …" if len(dirty) > 5 else "")
        raise InputError(
            f"{project} has uncommitted changes ({shown}).",
            "Commit or stash them first (git stash -u) so that git can undo the update, "
            "or pass --allow-dirty.",
        )
