"""The answers an update works from: the project's answers file, read and checked, with the
changes the person asked for (targets and options added or removed), checked as
``fwstart new`` checks its answers."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from fwstart import yamlio
from fwstart.answers_file import ANSWERS_FILENAME, SavedAnswers, read_answers
from fwstart.api import Catalog
from fwstart.errors import AnswersFileError, InputError
from fwstart.questions import Answers, AnswerValue, Question, check_value, collect_answers


@dataclass(frozen=True)
class AnswerChanges:
    """What the person asked to change; everything else stays as the answers file says."""

    add_targets: tuple[str, ...] = ()
    remove_targets: tuple[str, ...] = ()
    framework: str | None = None
    add_with: tuple[str, ...] = ()
    remove_with: tuple[str, ...] = ()


NO_CHANGES = AnswerChanges()  # the template's changes only
# The flags that add and remove values of the answers an update may change.
_FLAGS = {"targets": ("--add-target", "--remove-target"), "with": ("--with", "--without")}


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
    asked = {
        "targets": (changes.add_targets, changes.remove_targets),
        "with": (changes.add_with, changes.remove_with),
    }
    known = dict(saved.answers)
    for key, change in asked.items():
        known[key] = _changed(catalog, saved, key, change, _FLAGS[key])
    _check_needs_kept(catalog, known, {key: remove for key, (_, remove) in asked.items()})
    adding = {key: flags[0] for key, flags in _FLAGS.items()}
    collect_answers(catalog.questions, known, None, flags=adding)  # the checks fwstart new makes
    return catalog.completed(recorded_answers(known), on_note)


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


def _check_needs_kept(
    catalog: Catalog, known: Mapping[str, AnswerValue], removed: Mapping[str, tuple[str, ...]]
) -> None:
    """A target that a kept option needs (monitoring needs server) cannot go alone."""
    for question in catalog.questions:
        chosen = known.get(question.key, ())
        for choice in chosen if isinstance(chosen, tuple) else (chosen,):
            for key, value in question.needs.get(choice, {}).items():
                if value in removed.get(key, ()):
                    noun, remove = catalog.by_key[key].noun, _FLAGS.get(question.key)
                    how = f" ({remove[1]} {choice})" if remove else ""
                    raise InputError(
                        f"{choice} needs the {noun} {value}, which cannot go while {choice} stays.",
                        f"Remove {choice} as well{how}, or keep the {noun} {value}.",
                    )


def recorded_answers(answers: Mapping[str, AnswerValue]) -> Answers:
    """Answers exactly as recorded: a default that changed since never applies."""
    return Answers.from_dict(answers)  # read_project checked every key
