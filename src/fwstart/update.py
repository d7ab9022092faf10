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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from fwstart import __version__, gitops, yamlio
from fwstart.answers_file import ANSWERS_FILENAME, SavedAnswers, read_answers
from fwstart.api import Catalog, new_project
from fwstart.base import Base, load_base, record_commit, write_snapshot
from fwstart.errors import AnswersFileError, InputError
from fwstart.merge import (
    BOTH_ADDED,
    KEPT_DELETED,
    UPDATED,
    Change,
    Version,
    blocked_paths,
    merge_trees,
    read_tree,
    write_changes,
)
from fwstart.questions import Answers, AnswerValue, Question, check_value, collect_answers
from fwstart.render import StepCallback
from fwstart.staging import make_staging

_NO_OBJECT = "0" * 40


@dataclass(frozen=True)
class AnswerChanges:
    """What the person asked to change; everything else stays as the answers file says."""

    add_targets: tuple[str, ...] = ()
    remove_targets: tuple[str, ...] = ()
    framework: str | None = None
    add_with: tuple[str, ...] = ()
    remove_with: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpdatePlan:
    """What an update does, computed before anything is written."""

    project: Path
    base_source: str  # git, snapshot or none (rendered again from the answers)
    in_git: bool
    old_version: str
    answers: Answers
    changes: tuple[Change, ...]

    @property
    def conflicts(self) -> tuple[str, ...]:
        """The files the person must look at."""
        return tuple(change.path for change in self.changes if change.conflicted)

    @property
    def undo(self) -> str | None:
        """The git command that puts the project back as it was before the update."""
        if not self.in_git:
            return None
        folder = shlex.quote(str(self.project))
        return f"git -C {folder} restore --source=HEAD --staged --worktree -- ."


@dataclass(frozen=True)
class UpdateResult:
    """The plan, and whether it was carried out."""

    plan: UpdatePlan
    written: bool


def update_project(
    catalog: Catalog,
    project: Path,
    changes: AnswerChanges = AnswerChanges(),
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
    if repo is not None and not dry_run:
        _check_resolved(repo, project)
        if not allow_dirty:
            _check_clean(repo, project)
    with _scratch() as scratch:
        on_step("Finding the template this project was made from")
        base_folder, base = _base(catalog, project, saved, Path(scratch), on_step)
        on_step("Rendering the template as it is now")
        new_folder = _render(catalog, Path(scratch) / "new", answers, saved, on_step)
        on_step("Merging the template's changes into your files")
        labels = (f"fwstart {old_version}", f"fwstart {__version__}")
        merged = merge_trees(read_tree(base_folder), read_tree(new_folder), project, labels)
        plan = UpdatePlan(
            project,
            base.source,
            repo is not None,
            old_version,
            answers,
            _with_record(merged, project, new_folder),
        )
        _check_writable(plan)
        if dry_run or not plan.changes or not confirm(plan):
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


def read_project(catalog: Catalog, project: Path) -> tuple[SavedAnswers, str]:
    """The project's answers file, complete, and the fwstart version that wrote it.

    Raises:
        AnswersFileError: when it is missing, broken, or lacks an answer.
    """
    path = project / ANSWERS_FILENAME
    if not path.is_file():
        raise AnswersFileError(
            f"{project} has no {ANSWERS_FILENAME}, so fwstart cannot tell how it was made.",
            "Run fwstart update in a project that fwstart new generated, or restore that file "
            f"(git checkout HEAD -- {ANSWERS_FILENAME}).",
        )
    saved = read_answers(path, catalog.questions, catalog.frameworks)
    record = yamlio.load(path.read_text(encoding="utf-8")) or {}
    wanted = [q.key for q in catalog.questions if not q.absent_means_default]
    wanted += ["framework", "project_name"]
    if missing := [key for key in wanted if key not in record]:
        raise AnswersFileError(
            f"{path} does not record {', '.join(missing)}.",
            "Put the line(s) back as fwstart wrote them (see git log -p -- "
            f"{ANSWERS_FILENAME}); fwstart never fills a missing answer with a default.",
        )
    older = {q.key: q.default for q in catalog.questions if q.absent_means_default}
    saved = replace(saved, answers={**older, **saved.answers})
    return saved, str(record.get("fwstart_version", "unknown"))


def changed_answers(
    catalog: Catalog,
    saved: SavedAnswers,
    changes: AnswerChanges,
    on_note: Callable[[str], None] = lambda note: None,
) -> Answers:
    """The saved answers with the asked-for changes, checked like ``fwstart new`` checks them,
    and with each option that a chosen one needs (``on_note`` is told).

    Raises:
        InputError: for another framework, an unknown target, or one that cannot be
            added or removed.
    """
    if changes.framework is not None and changes.framework != saved.framework:
        catalog.framework(changes.framework)  # an unknown name is told as such
        raise InputError(
            f"This is a {catalog.framework(str(saved.framework)).label} project; "
            "fwstart update does not change the framework.",
            f"Another framework is a new project: fwstart new NEW-DIR --answers "
            f"{ANSWERS_FILENAME} --framework {changes.framework} --yes, then move your code.",
        )
    known = dict(saved.answers)
    known["targets"] = _changed(
        catalog,
        saved,
        "targets",
        (changes.add_targets, changes.remove_targets),
        ("--add-target", "--remove-target"),
    )
    known["with"] = _changed(
        catalog, saved, "with", (changes.add_with, changes.remove_with), ("--with", "--without")
    )
    collect_answers(catalog.questions, known, None)  # the checks fwstart new makes
    return catalog.completed(_recorded(known), on_note)


def _changed(
    catalog: Catalog,
    saved: SavedAnswers,
    key: str,
    change: tuple[tuple[str, ...], tuple[str, ...]],
    flags: tuple[str, str],
) -> tuple[str, ...]:
    """A checkbox answer with values added and removed; each change must change something."""
    question = catalog.by_key[key]
    current = tuple(saved.answers[key])
    add, remove = change
    for values, flag in ((add, flags[0]), (remove, flags[1])):
        if unknown := [value for value in values if value not in question.choices]:
            raise InputError(
                f"Unknown {question.noun} '{unknown[0]}' ({flag}).",
                f"Choose from: {', '.join(question.choices)}.",
            )
    what = f"{question.noun}(s)"
    if present := [value for value in add if value in current]:
        raise InputError(
            f"The project already has the {what} {', '.join(present)}.",
            f"Its {question.noun}s: {', '.join(current)}.",
        )
    if absent := [value for value in remove if value not in current]:
        raise InputError(
            f"The project has no {question.noun} {', '.join(absent)} to remove.",
            f"Its {question.noun}s: {', '.join(current) or 'none'}.",
        )
    kept = [value for value in (*current, *add) if value not in remove]
    _check_not_needed(question, kept, remove)
    return tuple(check_value(question, kept)) if kept else ()


def _check_not_needed(question: Question, kept: list[str], remove: tuple[str, ...]) -> None:
    """A value that a kept one needs (registry needs tracking) cannot go alone."""
    for value in kept:
        if needed := [need for need in question.implies.get(value, ()) if need in remove]:
            raise InputError(
                f"{value} needs {', '.join(needed)}, which cannot go while {value} stays.",
                f"Remove {value} as well, or keep {', '.join(needed)}.",
            )


def _recorded(answers: Mapping[str, AnswerValue]) -> Answers:
    """Answers exactly as recorded: a default that changed since never applies."""
    return Answers.from_dict(answers)  # read_project checked every key


def _check_resolved(repo: gitops.Repo, project: Path) -> None:
    """Never merge into a file that still holds the markers of an unresolved conflict."""
    if unmerged := gitops.unmerged_paths(repo, project):
        raise InputError(
            f"{project} has unresolved conflicts ({', '.join(unmerged)}).",
            "Resolve the <<<<<<< / >>>>>>> markers, git add the files and commit, then update.",
        )


def _check_writable(plan: UpdatePlan) -> None:
    if blocked := blocked_paths(plan.project, plan.changes):
        raise InputError(
            f"The template writes {', '.join(blocked)}, but the project has a folder there "
            "(or a file where the template needs a folder).",
            "Move it aside and run the update again. Nothing was written.",
        )


def _check_clean(repo: gitops.Repo, project: Path) -> None:
    if dirty := gitops.changed_paths(repo, project):
        shown = ", ".join(dirty[:5]) + (", …" if len(dirty) > 5 else "")
        raise InputError(
            f"{project} has uncommitted changes ({shown}).",
            "Commit or stash them first (git stash -u) so that git can undo the update, "
            "or pass --allow-dirty.",
        )


def _base(
    catalog: Catalog, project: Path, saved: SavedAnswers, scratch: Path, on_step: StepCallback
) -> tuple[Path, Base]:
    """The project's base in a folder; rendered from the answers when none was kept."""
    folder = scratch / "base"
    folder.mkdir()
    base = load_base(project, folder)
    if base.source == "none":
        answers = _recorded(saved.answers)
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
    if change.action in (KEPT_DELETED, BOTH_ADDED):  # the index keeps what HEAD has
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
