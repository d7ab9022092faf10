"""YAML through libyaml's C parser when PyYAML has it (several times faster), else pure Python."""

from typing import Any

import yaml

Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    """Parse one YAML document safely."""
    return yaml.load(text, Loader=Loader)


def load_all(text: str) -> list[Any]:
    """Parse every document of a YAML stream safely."""
    return list(yaml.load_all(text, Loader=Loader))


def compose(text: str) -> yaml.Node | None:
    """The node tree, with line numbers, of one YAML document."""
    return yaml.compose(text, Loader=Loader)
