"""The frameworks fwstart can generate: one template folder plus one data entry each."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fwstart import yamlio
from fwstart.errors import TemplateError


@dataclass(frozen=True)
class Step:
    """A command shown after generation, only when ``when`` matches the answers."""

    run: str
    when: Mapping[str, str]


@dataclass(frozen=True)
class FrameworkSpec:
    """A framework's starter template and what fwstart says about it."""

    name: str
    label: str
    template: Path
    targets: tuple[str, ...]
    artifacts: Mapping[str, str]
    imports: frozenset[str]
    next_steps: tuple[Step, ...]


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
        imports=frozenset(entry["imports"]),
        next_steps=tuple(
            Step(step, {}) if isinstance(step, str) else Step(step["run"], dict(step["when"]))
            for step in entry["next_steps"]
        ),
    )
