"""Checks run on a freshly rendered project before it is moved into place.

They catch faults in the templates, not in the person's input: template syntax
that survived rendering, and files that no longer parse in their own language.
"""

import ast
import json
import re
import tomllib
from collections.abc import Callable, Collection
from pathlib import Path

import yaml

from fwstart import yamlio
from fwstart.errors import TemplateError

# GitHub Actions expressions are meant to survive rendering.
_GITHUB_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
_TEMPLATE_SYNTAX = re.compile(r"\{\{|\{%")


def _parse_yaml(text: str) -> None:
    yamlio.load_all(text)


_PARSERS: dict[str, Callable[[str], object]] = {
    ".py": ast.parse,
    ".toml": tomllib.loads,
    ".json": json.loads,
    ".yml": _parse_yaml,
    ".yaml": _parse_yaml,
}


def check_project(root: Path, user_text: Collection[str]) -> None:
    """Check every text file under ``root``.

    Args:
        root: the rendered project.
        user_text: text the person typed; it may contain braces and is not a leftover.

    Raises:
        TemplateError: listing every problem found.
    """
    problems: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary data, such as the sample images
        relative = path.relative_to(root)
        problems += [
            f"{relative}: {problem}" for problem in _problems(path.suffix, text, user_text)
        ]
    if problems:
        raise TemplateError(
            "The generated project failed fwstart's checks:\n  " + "\n  ".join(problems),
            "This is a fault in fwstart's template; nothing was written. Please report it.",
        )


def _problems(suffix: str, text: str, user_text: Collection[str]) -> list[str]:
    found = []
    stripped = _GITHUB_EXPRESSION.sub("", text)
    for typed in user_text:
        stripped = stripped.replace(typed, "")
    if match := _TEMPLATE_SYNTAX.search(stripped):
        line = stripped.count("\n", 0, match.start()) + 1
        found.append(f"template syntax '{match.group()}' left near line {line}")
    parse = _PARSERS.get(suffix)
    if parse is not None:
        try:
            parse(text)
        except (SyntaxError, ValueError, yaml.YAMLError) as error:
            found.append(f"does not parse: {error}")
    return found
