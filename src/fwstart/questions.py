"""The questions `fwstart new` asks, loaded from data/questions.yaml.

Questions are asked through a prompter that the caller passes in, so the CLI can
use arrow-key menus on a terminal while tests pass answers directly.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Protocol

from fwstart import yamlio
from fwstart.errors import InputError, TemplateError

AnswerValue = str | tuple[str, ...]


@dataclass(frozen=True)
class Question:
    """One question, as data/questions.yaml describes it."""

    key: str
    flag: str
    kind: str  # "select" or "checkbox"
    prompt: str
    default: AnswerValue
    choices: Mapping[str, str]  # value -> one-line help
    when: Mapping[str, str]
    require_one_when: Mapping[str, str] | None
    noun: str = "value"  # what one choice of a checkbox is called in messages
    absent_means_default: bool = False  # answers files older than the question lack it
    implies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # choice -> needed
    needs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # choice -> condition

    @property
    def multiple(self) -> bool:
        """True for a checkbox question, whose answer is a list of values."""
        return self.kind == "checkbox"


@dataclass(frozen=True)
class Answers:
    """Everything the person told fwstart about their project."""

    goal: str
    targets: tuple[str, ...]
    experience: str
    stack: str
    ci: str
    with_: tuple[str, ...] = ()  # the key `with`: a Python keyword, hence the underscore

    def as_dict(self) -> dict[str, AnswerValue]:
        """Return the answers keyed by question key."""
        return {_key(field_.name): getattr(self, field_.name) for field_ in fields(self)}

    @classmethod
    def from_dict(cls, values: Mapping[str, AnswerValue]) -> "Answers":
        """Build the answers from a mapping keyed by question key."""
        return cls(**{item.name: values[_key(item.name)] for item in fields(cls)})  # type: ignore[arg-type]


def _key(field_name: str) -> str:
    return field_name.rstrip("_")


ANSWER_KEYS: tuple[str, ...] = tuple(_key(item.name) for item in fields(Answers))


class Prompter(Protocol):
    """Asks one question at a time; the CLI's is interactive, tests script theirs."""

    def select(self, question: Question) -> str:
        """Return one of ``question.choices``."""

    def checkbox(self, question: Question, require_one: bool) -> list[str]:
        """Return any number of ``question.choices`` (at least one if ``require_one``)."""


def matches(when: Mapping[str, str], values: Mapping[str, AnswerValue]) -> bool:
    """Tell whether answers satisfy a ``when`` condition from the data files.

    A condition maps answer keys to values; a list answer matches when the value
    is among those chosen. Every key must match.
    """
    for key, expected in when.items():
        actual = values.get(key)
        if isinstance(actual, tuple):
            if expected not in actual:
                return False
        elif actual != expected:
            return False
    return True


def load_questions(path: Path) -> tuple[Question, ...]:
    """Read the questions file and check it covers every answer key.

    Raises:
        TemplateError: when the file is missing a question or a question is malformed.
    """
    raw = yamlio.load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or set(raw) != set(ANSWER_KEYS):
        raise TemplateError(
            f"{path} must define exactly the questions {', '.join(ANSWER_KEYS)}.",
            "Restore the file from the fwstart release you installed.",
        )
    return tuple(_question(key, raw[key], path) for key in raw)


def _question(key: str, raw: dict, path: Path) -> Question:
    try:
        default = raw["default"]
        return Question(
            key=key,
            flag=raw["flag"],
            kind=raw["kind"],
            prompt=raw["prompt"],
            default=tuple(default) if isinstance(default, list) else default,
            choices=dict(raw["choices"]),
            when=dict(raw.get("when") or {}),
            require_one_when=raw.get("require_one_when"),
            noun=raw.get("noun", key),
            absent_means_default=raw.get("absent_means_default", False),
            implies={choice: tuple(needs) for choice, needs in (raw.get("implies") or {}).items()},
            needs={choice: dict(when) for choice, when in (raw.get("needs") or {}).items()},
        )
    except (KeyError, TypeError) as error:
        raise TemplateError(
            f"{path}: question '{key}' is missing or misusing {error}.",
            "Restore the file from the fwstart release you installed.",
        ) from error


def check_value(question: Question, value: object) -> AnswerValue:
    """Validate one answer against its question and return it in canonical form.

    Raises:
        InputError: naming the valid values when ``value`` is not one of them.
    """
    valid = ", ".join(question.choices)
    if question.multiple:
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
            raise InputError(
                f"'{question.key}' must be a list of values, got {value!r}.",
                f"Choose any of: {valid}.",
            )
        for item in values:
            _check_choice(question, item, valid)
        # Keep the data file's order, so the same choice always reads the same.
        return tuple(choice for choice in question.choices if choice in values)
    if not isinstance(value, str):
        raise InputError(
            f"'{question.key}' must be a single value, got {value!r}.", f"Choose one of: {valid}."
        )
    _check_choice(question, value, valid)
    return value


def _check_choice(question: Question, value: str, valid: str) -> None:
    if value not in question.choices:
        noun = question.noun if question.multiple else question.key
        raise InputError(f"Unknown {noun} '{value}' ({question.flag}).", f"Choose from: {valid}.")


def with_implied(
    question: Question, chosen: AnswerValue, on_note: Callable[[str], None]
) -> AnswerValue:
    """A checkbox answer with the choices its choices need added (registry needs tracking);
    ``on_note`` is told, in one line, what was added and why."""
    if not question.multiple:
        return chosen
    needed = {need: choice for choice in chosen for need in question.implies.get(choice, ())}
    if added := [need for need in question.choices if need in needed and need not in chosen]:
        for need in added:
            on_note(f"{question.flag} {needed[need]} needs {need}, so {need} is included too.")
        return check_value(question, [*chosen, *added])
    return chosen


def collect_answers(
    questions: Sequence[Question],
    known: Mapping[str, AnswerValue],
    prompter: Prompter | None,
    on_note: Callable[[str], None] = lambda note: None,
    flags: Mapping[str, str] | None = None,
) -> Answers:
    """Complete the answers: take known ones, ask the rest, or use defaults.

    Args:
        questions: the questions, in the order to ask them.
        known: answers already given by flags or an answers file (validated).
        prompter: asks what is not known; ``None`` takes every default.
        on_note: told each choice added because another needs it.
        flags: the flag that adds a value to an answer, by key, where it is not the
            question's own (`fwstart update` adds a target with --add-target).

    Raises:
        InputError: when a required answer is missing and nobody can be asked.
    """
    values: dict[str, AnswerValue] = {}
    flag = {question.key: question.flag for question in questions} | dict(flags or {})
    for question in questions:
        require_one = question.require_one_when is not None and matches(
            question.require_one_when, values
        )
        if not matches(question.when, values):
            _check_not_given(question, known, values)
            values[question.key] = question.default
        elif question.key in known:
            values[question.key] = known[question.key]
        elif prompter is None:
            values[question.key] = question.default
        elif question.multiple:
            values[question.key] = tuple(prompter.checkbox(_offered(question, values), require_one))
        else:
            values[question.key] = prompter.select(question)
        values[question.key] = with_implied(question, values[question.key], on_note)
        _check_needs(question, values, flag)
        if require_one and not values[question.key]:
            raise InputError(
                f"A {_describe(question.require_one_when)} project needs at least one "
                f"{question.key[:-1] if question.key.endswith('s') else question.key}.",
                f"Add {flag[question.key]} with one of: {', '.join(question.choices)}.",
            )
    return Answers.from_dict(values)


def _offered(question: Question, values: Mapping[str, AnswerValue]) -> Question:
    """The question with only the choices that the earlier answers allow."""
    allowed = {
        choice: text
        for choice, text in question.choices.items()
        if matches(question.needs.get(choice, {}), values)
    }
    return replace(question, choices=allowed)


def _check_needs(
    question: Question, values: Mapping[str, AnswerValue], flags: Mapping[str, str]
) -> None:
    """A choice that needs another answer (monitoring needs the server target) is refused
    without it, rather than quietly adding that answer."""
    chosen = values[question.key]
    for choice in chosen if isinstance(chosen, tuple) else (chosen,):
        needed = question.needs.get(choice, {})
        if not matches(needed, values):
            wanted = " ".join(f"{flags[key]} {value}" for key, value in needed.items())
            raise InputError(
                f"{question.flag} {choice} needs {wanted}.",
                f"Add {wanted}, or leave out {question.flag} {choice}.",
            )


def _check_not_given(
    question: Question, known: Mapping[str, AnswerValue], values: Mapping[str, AnswerValue]
) -> None:
    """An answer to a question that does not apply is a mistake, not something to drop."""
    given = known.get(question.key, question.default)
    if given != question.default:
        condition = ", ".join(f"{key} is {value}" for key, value in question.when.items())
        actual = ", ".join(f"{key} is {values.get(key)}" for key in question.when)
        raise InputError(
            f"{question.flag} {given} does not apply: it counts only when {condition}, "
            f"and here {actual}.",
            f"Leave out {question.flag}, or change the answer it depends on "
            f"({', '.join(question.when)}).",
        )


def _describe(when: Mapping[str, str] | None) -> str:
    return " ".join((when or {}).values())
