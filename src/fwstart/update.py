"""`fwstart update`: bring a project up to the installed template, or change its answers.

The template is rendered twice into a scratch folder — as it was for the project
(its base, see base.py) and as it is now with the new answers — and base → new is
merged into the person's files (merge.py). Nothing in the project changes until
everything is computed. In git, the results are staged (conflicts as git's own
unmerged entries), so ``git restore --source=HEAD --staged --worktree`` undoes it.
"""

import contextlib
import shlex
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fwstart import __version__, gitops
from fwstart.answers_file import ANSWERS_FILENAME, SavedAnswers
from fwstart.api import Catalog, new_project
from fwstart.base import Base, load_base, record_commit, write_snapshot
from fwstart.merge import (
    BOTH_ADDED,
    KEPT_DELETED,
    LINKED,
    UPDATED,
    Change,
    Version,
    merge_trees,
    read_tree,
    remove_scratch,
    write_changes,
)
from fwstart.questions import Answers
from fwstart.render import StepCallback
from fwstart.staging import make_staging
from fwstart.update_answers import (
    NO_CHANGES,
    AnswerChanges,
    changed_answers,
    read_project,
    recorded_answers,
)
from fwstart.update_checks import check_framework, check_repo, check_writable

_NO_OBJECT = "0" * 40


@dataclass(frozen=True)
class UpdatePlan:
    """What an update does, computed before anything is written."""

    project: Path
    base_source: str  # git, snapshot or none (rendered again from the answers)
    in_git: bool
    old_version: str
    answers: Answers
    changes: tuple[Change, ...]
    # With --allow-dirty: the commits keeping the work tree and the index as they were.
    uncommitted: tuple[str, str] | None = None

    @property
    def conflicts(self) -> tuple[str, ...]:
        """The files the person must look at."""
        return tuple(change.path for change in self.changes if change.conflicted)

    @property
    def undo(self) -> str | None:
        """The git command that puts the project back as it was before the update."""
        if not self.in_git:
            return None
        restore = f"git -C {shlex.quote(str(self.project))} restore"
        if self.uncommitted is None:
            return f"{restore} --source=HEAD --staged --worktree -- ."
        # The files as they were (the update's new files go, being in the index), then the
        # index as it was.
        tree, index = self.uncommitted
        return (
            f"{restore} --source={tree} --staged --worktree -- . && "
            f"{restore} --source={index} --staged -- ."
        )


@dataclass(frozen=True)
class UpdateResult:
    """The plan, and whether it was carried out."""

    plan: UpdatePlan
    written: bool


def update_project(
    catalog: Catalog,
    project: Path,
    changes: AnswerChanges = NO_CHANGES,
    *,
    dry_run: bool = False,
    allow_dirty: bool = False,
    confirm: Callable[[UpdatePlan], bool] = lambda plan: True,
    on_step: StepCallback = lambda step: None,
    on_note: Callable[[str], None] = lambda note: None,
) -> UpdateResult:
    """Merge the template's changes since the project was made (or last updated) into it.

    Args:
        catalog: fwstart's questions, frameworks and rules (and so its templates).
        project: the generated project's folder.
        changes: answers to change (targets to add or remove).
        dry_run: compute and return the plan, write nothing.
        allow_dirty: update a git tree that has uncommitted changes.
        confirm: asked with the plan before anything is written; False writes nothing.
        on_step: called with a short description as each step starts.
        on_note: told each option added because another needs it.

    Raises:
        FwstartError: for a missing or broken answers file, changed framework,
            invalid answers, or a git tree with uncommitted changes.
    """
    project = project.expanduser().absolute()
    saved, old_version = read_project(catalog, project)
    answers = changed_answers(catalog, saved, changes, on_note)
    repo = gitops.find_repo(project)
    if repo is not None:
        check_repo(repo, project, dry_run, allow_dirty)
    with _scratch() as scratch:
        on_step("Finding the template this project was made from")
        base_folder, base = _base(catalog, project, saved, Path(scratch), on_step)
        check_framework(base, saved, project)
        on_step("Rendering the template as it is now")
        new_folder = _render(catalog, Path(scratch) / "new", answers, saved, on_step)
        on_step("Merging the template's changes into your files")
        base_tree, new_tree = read_tree(base_folder), read_tree(new_folder)
        labels = (f"fwstart {old_version}", f"fwstart {__version__}")
        merged = merge_trees(base_tree, new_tree, project, labels)
        plan = UpdatePlan(
            project,
            base.source,
            repo is not None,
            old_version,
            answers,
            _with_record(merged, project, new_folder),
            gitops.save_uncommitted(repo) if repo and allow_dirty and not dry_run else None,
        )
        check_writable(project, plan.changes)
        if dry_run or (plan.changes and not confirm(plan)):
            return UpdateResult(plan, False)
        remove_scratch(project, {*base_tree, *new_tree})  # left by an update killed writing
        if not plan.changes:
            return UpdateResult(plan, False)
        on_step("Writing the update")
        _apply(plan, repo, new_folder)
        return UpdateResult(plan, True)


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    """A folder for the renders; one left by a killed update goes with the next run."""
    folder = make_staging(Path(tempfile.gettempdir()))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _base(
    catalog: Catalog, project: Path, saved: SavedAnswers, scratch: Path, on_step: StepCallback
) -> tuple[Path, Base]:
    """The project's base in a folder; rendered from the answers when none was kept."""
    folder = scratch / "base"
    folder.mkdir()
    base = load_base(project, folder, str(saved.project_name))
    if base.source == "none":
        answers = recorded_answers(saved.answers)
        folder = _render(catalog, scratch / "base-render", answers, saved, on_step)
    return folder, base


def _render(
    catalog: Catalog, parent: Path, answers: Answers, saved: SavedAnswers, on_step: StepCallback
) -> Path:
    """Render the project's template into ``parent``, named as the project was."""
    destination = parent / str(saved.project_name)
    new_project(catalog, destination, answers, saved.framework, on_step=on_step, base="none")
    return destination


def _with_record(changes: list[Change], project: Path, new_folder: Path) -> tuple[Change, ...]:
    """The answers file is fwstart's record: it always becomes the new one, never merged."""
    others = tuple(change for change in changes if change.path != ANSWERS_FILENAME)
    ours, new = project / ANSWERS_FILENAME, new_folder / ANSWERS_FILENAME
    if ours.read_bytes() == new.read_bytes():
        return others
    record = Version(new.read_bytes())
    return (*others, Change(ANSWERS_FILENAME, UPDATED, record, None, None, record))


def _apply(plan: UpdatePlan, repo: gitops.Repo | None, new_folder: Path) -> None:
    """Write the plan; in git, the new render first, then the index, then the files."""
    files = [Path(path) for path in read_tree(new_folder)]
    with _interrupts_deferred():
        if repo is None:
            write_changes(plan.project, plan.changes)
            write_snapshot(plan.project, new_folder, files)
            return
        message = f"fwstart {__version__}: template of {plan.project.name}"
        record_commit(repo, new_folder, files, message)  # the old base stays reachable
        gitops.set_index(
            repo, [line for change in plan.changes for line in _index_lines(repo, change)]
        )
        write_changes(plan.project, plan.changes)


def _index_lines(repo: gitops.Repo, change: Change) -> list[str]:
    """``update-index --index-info`` lines: the result staged, or git's conflict stages."""
    if change.action in (KEPT_DELETED, BOTH_ADDED, LINKED):  # the index keeps what HEAD has
        return []
    path = repo.prefix + change.path
    lines = [f"0 {_NO_OBJECT}\t{path}"]
    if change.conflicted:
        sides = ((1, change.base), (2, change.ours), (3, change.new))
        return lines + [_entry(repo, v, str(stage), path) for stage, v in sides if v is not None]
    if change.result is not None:
        lines.append(_entry(repo, change.result, "0", path))
    return lines


def _entry(repo: gitops.Repo, version: Version, stage: str, path: str) -> str:
    mode = "100755" if version.executable else "100644"
    return f"{mode} {gitops.store_blob(repo, version.data)} {stage}\t{path}"


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Let the final writes (milliseconds) finish when Ctrl-C comes during them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
