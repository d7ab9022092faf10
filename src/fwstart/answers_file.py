"""Read and write ``.fwstart-answers.yml``, the record that replays a project.

Every generated project holds one; ``fwstart new --answers FILE`` reads it back.
Errors name the file, the line and the key, so a hand-edited file is easy to fix.
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fwstart import yamlio
from fwstart.errors import AnswersFileError, InputError
from fwstart.questions import AnswerValue, Question, check_value

ANSWERS_FILENAME = ".fwstart-answers.yml"

# Keys written for the record that are not answers: read back, never required.
_RECORD_KEYS = ("fwstart_version", "recommended")


@dataclass(frozen=True)
class SavedAnswers:
    """What an answers file says; every part may be missing."""

    answers: Mapping[str, AnswerValue] = field(default_factory=dict)
    framework: str | None = None
    project_name: str | None = None


def read_answers(
    path: Path, questions: Sequence[Question], frameworks: Collection[str]
) -> SavedAnswers:
    """Read an answers file and validate every key and value in it.

    Raises:
        AnswersFileError: naming the file, line and key of the first problem.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AnswersFileError(
            f"Answers file {path} does not exist.",
            f"Pass the {ANSWERS_FILENAME} of an earlier project, or leave out --answers.",
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise AnswersFileError(f"Cannot read answers file {path}: {error}.") from None
    data, lines = _parse(path, text)
    by_key = {question.key: question for question in questions}
    answers: dict[str, AnswerValue] = {}
    for key, value in data.items():
        where = f"{path}, line {lines[str(key)]}, key '{key}'"
        if key in by_key:
            answers[key] = _checked(where, by_key[key], value)
        elif key == "framework":
            _check_framework(where, value, frameworks)
        elif key not in ("project_name", *_RECORD_KEYS):
            valid = ", ".join([*by_key, "framework", "project_name"])
            raise AnswersFileError(f"{where}: unknown key.", f"Valid keys: {valid}.")
    name = data.get("project_name")
    if name is not None:
        _check_project_name(f"{path}, line {lines['project_name']}, key 'project_name'", name)
    return SavedAnswers(answers=answers, framework=data.get("framework"), project_name=name)


def _check_project_name(where: str, name: object) -> None:
    """A directory name, never a path: an answers file does not choose where a project goes."""
    hint = "Write the project's directory name, e.g. project_name: digits-demo"
    if not isinstance(name, str):
        raise AnswersFileError(f"{where}: must be text.", hint)
    if name in ("", ".", "..") or "/" in name or "\\" in name:
        raise AnswersFileError(
            f"{where}: {name!r} is a path, and an answers file never chooses where the "
            "project goes.",
            hint + "; to put the project elsewhere, pass DIR on the command line.",
        )


def _parse(path: Path, text: str) -> tuple[dict, dict[str, int]]:
    """Parse the YAML; return its mapping and each top-level key's line number."""
    try:
        root = yamlio.compose(text)
        data = yamlio.load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}, line {_line(text, mark.index)}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error)
        raise AnswersFileError(
            f"{where}: not valid YAML ({problem}).",
            "Each line should read 'key: value', e.g. goal: deployment",
        ) from None
    if root is None:
        return {}, {}
    if not isinstance(root, yaml.MappingNode) or not isinstance(data, dict):
        raise AnswersFileError(
            f"{path}, line {root.start_mark.line + 1}: expected 'key: value' lines.",
            "See the .fwstart-answers.yml of a generated project for the layout.",
        )
    lines: dict[str, int] = {}
    for key, _ in root.value:
        if str(key.value) in lines:
            raise AnswersFileError(
                f"{path}, line {key.start_mark.line + 1}, key '{key.value}': given twice "
                f"(first on line {lines[str(key.value)]}).",
                "Keep one of the two lines.",
            )
        lines[str(key.value)] = key.start_mark.line + 1
    return data, lines


def _line(text: str, index: int) -> int:
    """The line of a parse error; one at the very end belongs to the last line written.

    (YAML reports an unclosed bracket at the end of the text, which is the line after
    the last one when the file ends with a newline.)
    """
    return text.count("\n", 0, len(text[:index].rstrip())) + 1


def _checked(where: str, question: Question, value: object) -> AnswerValue:
    try:
        return check_value(question, value)
    except InputError as error:
        raise AnswersFileError(f"{where}: {error.message}", error.hint) from None


def _check_framework(where: str, value: object, frameworks: Collection[str]) -> None:
    if value not in frameworks:
        raise AnswersFileError(
            f"{where}: unknown framework {value!r}.", f"Choose from: {', '.join(frameworks)}."
        )


def write_answers(
    project_dir: Path,
    record: Mapping[str, object],
) -> Path:
    """Write the answers record into a project and return its path."""
    path = project_dir / ANSWERS_FILENAME
    header = (
        "# Written by fwstart. Replay this project with:\n"
        f"#   fwstart new DIR --answers {ANSWERS_FILENAME} --yes\n"
    )
    plain = {
        key: list(value) if isinstance(value, tuple) else value for key, value in record.items()
    }
    body = yaml.safe_dump(plain, sort_keys=False, default_flow_style=None, allow_unicode=True)
    path.write_text(header + body, encoding="utf-8")
    return path
