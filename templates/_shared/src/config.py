{%- set any_target = cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server -%}
"""Settings for training{% if any_target %} and export{% endif %}: configs/default.yaml, another file, then flags.

Every setting lives in configs/default.yaml. Another config file (such as
configs/smoke.yaml) changes some of them; ``--set key=value`` changes one for a
single run. Unknown keys and wrong types are errors, never silently ignored.
"""

import math
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path

import yaml

{% if any_target %}TARGETS = ("mobile", "web", "edge", "server")
{% endif %}# A device name, optionally with an index: auto, cpu, cuda, cuda:1, gpu, mps.
DEVICE = re.compile(r"[a-z]+(:\d+)?")
# Settings that are "auto" or a value of a type: the type of their other values.
AUTO_OR: dict[object, type] = {int | str: int, bool | str: bool}


@dataclass(frozen=True)
class Config:
    """One run's settings; see configs/default.yaml for what each one means."""

    data: str
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    seed: int
    device: str
    threads: int
    run_dir: str
{%- if any_target or cookiecutter.registry %}
    artifacts_dir: str
{%- endif %}
{%- if any_target %}
    targets: tuple[str, ...]
{%- endif %}
    precision: str
    compile: bool
    checkpoint_every_steps: int
    image_size: int | str = "auto"
    channels: int | str = "auto"
    augment: bool | str = "auto"
    model: str = "small_cnn"
    weights: str = "imagenet"
    head_epochs: int = 2

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be at least 1.")
        if not math.isfinite(self.learning_rate) or self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate}.")
        if not math.isfinite(self.weight_decay) or self.weight_decay < 0:
            raise ValueError(
                f"weight_decay must be 0 or a positive number, got {self.weight_decay}."
            )
        if not DEVICE.fullmatch(self.device):
            raise ValueError(
                f"device must be a device name such as auto or cpu, optionally "
                f"with an index (name:0), got {self.device!r}."
            )
        if self.threads < 0:
            raise ValueError("threads must be 0 (automatic) or a positive number.")
        if self.checkpoint_every_steps < 0:
            raise ValueError(
                "checkpoint_every_steps must be 0 (at the end of each epoch only) "
                "or a positive number."
            )
        if self.image_size != "auto" and not (
            isinstance(self.image_size, int) and self.image_size >= 4
        ):
            raise ValueError(
                f"image_size must be auto or a whole number of at least 4, got {self.image_size!r}."
            )
        if self.channels not in ("auto", 1, 3):
            raise ValueError(f"channels must be auto, 1 or 3, got {self.channels!r}.")
        if self.augment not in ("auto", True, False):
            raise ValueError(f"augment must be auto, true or false, got {self.augment!r}.")
        if self.head_epochs < 0:
            raise ValueError("head_epochs must be 0 or a positive number.")
{%- if any_target %}
        if unknown := [target for target in self.targets if target not in TARGETS]:
            raise ValueError(f"Unknown target(s) {unknown}; choose from {', '.join(TARGETS)}.")
{%- endif %}


def load_config(path: Path, overrides: dict[str, object] | None = None) -> Config:
    """Read ``path`` over configs/default.yaml beside it, then apply ``overrides``.

    Raises:
        ValueError: for a missing file, an unknown key or a value of the wrong type.
    """
    if path.is_dir():
        raise ValueError(
            f"{path} is a directory; --config takes a YAML file such as {path / 'default.yaml'}."
        )
    own = _read(path)  # first: a missing file is named as it was typed
    defaults = path.parent / "default.yaml"
    if path.name != "default.yaml" and not defaults.is_file():
        raise ValueError(
            f"{path} changes some settings of default.yaml, which must sit beside "
            f"it ({defaults} does not exist): keep your config files in configs/."
        )
    values = _read(defaults) if path.name != "default.yaml" else {}
    values.update(own)
    values.update(overrides or {})
    return Config(**{name: _typed(name, value) for name, value in values.items()})


def parse_override(text: str) -> tuple[str, object]:
    """Turn ``key=value`` from the command line into a setting (value parsed as YAML)."""
    key, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"--set needs key=value, got {text!r}.")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise ValueError(
            f"--set {key.strip()}: {value!r} is not a plain value ({problem}); "
            "give a number, text or a [list]."
        ) from None


def with_overrides(config: Config, **changes: object) -> Config:
    """Return a copy of ``config`` with some settings changed (and checked)."""
    return replace(config, **{name: _typed(name, value) for name, value in changes.items()})


def _read(path: Path) -> dict[str, object]:
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ValueError(f"Config file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ValueError(f"Config file {path} cannot be read ({reason}).") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "cannot be parsed"
        raise ValueError(f"{path}{where} is not valid YAML: {problem}.") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold 'key: value' lines.")
    return values


def _typed(name: str, value: object) -> object:
    """Check a setting's name and type; ints are accepted where floats are expected."""
    types = {field.name: field.type for field in fields(Config)}
    if name not in types:
        raise ValueError(f"Unknown setting '{name}'. Known settings: {', '.join(types)}.")
    expected = types[name]
    if expected == tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
            return tuple(value)
    elif (expected is bool and isinstance(value, bool)) or (
        expected in AUTO_OR and (value == "auto" or type(value) is AUTO_OR[expected])
    ):
        return value
    elif expected is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    elif isinstance(value, expected) and not isinstance(value, bool):  # type: ignore[arg-type]
        return value
    raise ValueError(f"Setting '{name}' must be {_describe(expected)}, got {value!r}.")


def _describe(expected: object) -> str:
    return {
        int: "a whole number",
        float: "a number",
        str: "text",
        bool: "true or false",
        int | str: "auto or a whole number",
        bool | str: "auto, true or false",
    }.get(
        expected,  # type: ignore[call-overload]
        "a list of text values",
    )
