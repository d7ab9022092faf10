"""The frameworks fwstart can generate: one template folder plus one data entry each."""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from fwstart import yamlio
from fwstart.errors import TemplateError


@dataclass(frozen=True)
class FrameworkSpec:
    """A framework's starter template and what fwstart says about it."""

    name: str
    label: str
    template: Path
    targets: tuple[str, ...]
    artifacts: Mapping[str, str]

    @cached_property
    def imports(self) -> frozenset[str]:
        """Every module the starter may import or depend on, whatever the answers."""
        return template_imports(self.template)


def load_frameworks(data_file: Path, templates: Path) -> dict[str, FrameworkSpec]:
    """Match each folder in ``templates`` to its entry in ``data_file``.

    Raises:
        TemplateError: when a template has no data entry or an entry has no template.
    """
    raw = yamlio.load(data_file.read_text(encoding="utf-8"))
    folders = {path.name for path in templates.iterdir() if (path / "cookiecutter.json").is_file()}
    fix = "Each framework needs both a templates/<name>/ folder and an entry in frameworks.yaml."
    if missing := sorted(folders - set(raw)):
        raise TemplateError(f"Template folder(s) without an entry in {data_file}: {missing}.", fix)
    if missing := sorted(set(raw) - folders):
        raise TemplateError(f"{data_file} lists framework(s) without a template: {missing}.", fix)
    try:
        return {name: _spec(name, entry, templates / name) for name, entry in raw.items()}
    except (KeyError, TypeError) as error:
        raise TemplateError(f"{data_file}: entry is missing {error}.", fix) from error


def _spec(name: str, entry: Mapping, template: Path) -> FrameworkSpec:
    return FrameworkSpec(
        name=name,
        label=entry["label"],
        template=template,
        targets=tuple(entry["targets"]),
        artifacts=dict(entry["artifacts"]),
    )


_JINJA_TAG = re.compile(r"\{%.*?%\}", re.S)
_IMPORT = re.compile(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", re.M)
_COMMENT = re.compile(r"(?:^|\s)#[^\n]*$", re.M)
_TABLE = re.compile(r"^\[([^\]]+)\]\s*$", re.M)
_ARRAY = re.compile(r'^([\w.-]+)\s*=\s*\[((?:"[^"]*"|[^\]"])*)\]', re.M)
_STRING = re.compile(r'"([^"]*)"')
_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_REQUIREMENT_ARRAYS = {("build-system", "requires"), ("project", "dependencies")}
_REQUIREMENT_TABLES = {"project.optional-dependencies", "dependency-groups"}


def template_imports(template: Path) -> frozenset[str]:
    """The top-level modules a template's code imports and the distributions it declares.

    Read from the template's text, every ``{% if %}`` branch included, so the set
    covers every answer (and a later update that adds one). Distribution names are
    normalised as the project's own name would be (``prometheus-client`` →
    ``prometheus_client``).
    """
    names: set[str] = set()
    for folder, _, files in os.walk(template, followlinks=True):
        for file in files:
            rendered_name = _JINJA_TAG.sub("", file)
            if rendered_name.endswith(".py"):
                names |= set(_IMPORT.findall(Path(folder, file).read_text(encoding="utf-8")))
            elif rendered_name == "pyproject.toml":
                names |= requirement_names(Path(folder, file).read_text(encoding="utf-8"))
    return frozenset(re.sub(r"[-_.]+", "_", name.lower()) for name in names)


def requirement_names(pyproject: str) -> set[str]:
    """The distribution names in a (template of a) pyproject.toml's requirement lists."""
    text = _COMMENT.sub("", _JINJA_TAG.sub("", pyproject))
    parts = _TABLE.split(text)  # text before the first table, then (header, body) pairs
    names = set()
    for table, body in zip(parts[1::2], parts[2::2], strict=True):
        for key, items in _ARRAY.findall(body):
            if (table, key) in _REQUIREMENT_ARRAYS or table in _REQUIREMENT_TABLES:
                names |= {
                    match[1]
                    for item in _STRING.findall(items)
                    if "{" not in item and (match := _NAME.match(item))  # not the project itself
                }
    return names
