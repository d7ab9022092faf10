"""cookiecutter's API, called the way fwstart needs it: no hooks, no prompts, no replay.

Templates are compiled by Jinja2 on every run; their bytecode is kept in the user's
cache folder, so a later run loads it instead (Jinja2 checks each entry against the
template's source, so an edited or upgraded template is compiled afresh).
"""

import contextlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fwstart.errors import TemplateError


def render_template(template: Path, values: Mapping[str, object], output: Path) -> Path:
    """Render with cookiecutter's API; no hooks, no prompts, no replay files in HOME."""
    from cookiecutter.exceptions import CookiecutterException  # type: ignore[import-untyped]
    from cookiecutter.generate import (  # type: ignore[import-untyped]
        generate_context,
        generate_files,
    )
    from jinja2 import TemplateError as JinjaError

    _check_links(template)
    defaults = json.loads((template / "cookiecutter.json").read_text(encoding="utf-8"))
    if unknown := sorted(set(values) - set(defaults)):
        raise TemplateError(
            f"{template}/cookiecutter.json lacks the variable(s) {unknown} that fwstart sets.",
            "Add them to the template's cookiecutter.json.",
        )
    try:
        raw = generate_context(str(template / "cookiecutter.json"), extra_context=dict(values))
        variables = _resolve(raw["cookiecutter"], set(values), template)
        variables["_jinja2_env_vars"] = {"bytecode_cache": _bytecode_cache(template)}
        context = {"cookiecutter": variables}
        project = generate_files(
            str(template), context, str(output), overwrite_if_exists=True, accept_hooks=False
        )
    except (CookiecutterException, JinjaError, ValueError) as error:
        raise TemplateError(
            f"The template {template.name} failed to render: {error}.",
            "This is a fault in fwstart's template; please report it.",
        ) from error
    _tidy(Path(project))
    return Path(project)


def _check_links(template: Path) -> None:
    """Name a link whose target is missing (a copy of templates/ that left it behind),
    rather than let the copy fail as an unwritable project."""
    for folder, folders, files in os.walk(template):
        for name in (*folders, *files):
            path = Path(folder, name)
            if path.is_symlink() and not path.exists():
                raise TemplateError(
                    f"{path} is a link to {os.readlink(path)}, which does not exist.",
                    "Copy the whole templates/ folder (cp -r keeps its links whole), or "
                    "make the link point at a file.",
                )


def _resolve(variables: Mapping[str, object], given: set[str], template: Path) -> dict:
    """Settle each variable as cookiecutter's no-input mode would, without rendering."""
    resolved: dict[str, object] = {}
    for key, value in variables.items():
        if isinstance(value, list) and not key.startswith("_"):
            value = value[0]  # generate_context moved the chosen value first
        if key not in given and isinstance(value, str) and "{" in value and not key.startswith("_"):
            raise TemplateError(
                f"{template}/cookiecutter.json: variable '{key}' is computed, but fwstart "
                "does not set it.",
                "fwstart must supply every computed variable; add it to the context.",
            )
        resolved[key] = value
    return resolved


def _tidy(root: Path) -> None:
    """Remove what rendering copied but the project must not hold (all in our staging copy).

    pip byte-compiles the templates' .py files when it installs fwstart, so their
    __pycache__ folders would be copied along; and files the answers switched off
    leave their folders empty.
    """
    for cache in list(root.rglob("__pycache__")):
        shutil.rmtree(cache)
    for folder, _, _ in sorted(os.walk(root), key=lambda entry: -len(entry[0])):
        path = Path(folder)
        if path != root and not any(path.iterdir()):
            path.rmdir()


def cache_dir() -> Path:
    """fwstart's folder in the user's cache (XDG_CACHE_HOME, else ~/.cache)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "fwstart"


def _bytecode_cache(template: Path) -> Any:
    """A Jinja2 bytecode cache for one template, or none where it cannot be kept."""
    from jinja2 import FileSystemBytecodeCache
    from jinja2.bccache import Bucket

    class QuietCache(FileSystemBytecodeCache):
        """A cache that never fails a run: a folder it cannot write is no cache."""

        def load_bytecode(self, bucket: Bucket) -> None:
            with contextlib.suppress(OSError, EOFError, ValueError):
                super().load_bytecode(bucket)

        def dump_bytecode(self, bucket: Bucket) -> None:
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)

    # Both templates name their files alike; one folder each keeps them apart.
    folder = cache_dir() / "jinja2" / template.name
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return QuietCache(str(folder))
