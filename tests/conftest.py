"""Helpers shared by fwstart's tests: run the CLI as a person would, in tmp_path."""

import functools
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from bench.starter_env import StarterEnv, starter_environment
from fwstart.api import Catalog, load_catalog
from fwstart.cli import app


@pytest.fixture(autouse=True)
def user_cache(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fwstart's cache (compiled templates) in a temporary folder, never in HOME.

    One folder for the session, as one person's cache is shared by their runs.
    """
    folder = tmp_path_factory.getbasetemp() / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return folder


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def starter_envs() -> Callable[[str], StarterEnv]:
    """Each framework's environment, made (or checked) once per session when first needed."""
    return functools.cache(starter_environment)


@pytest.fixture
def fwstart(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Result]:
    """Run ``fwstart ARGS`` in tmp_path, as from a shell there."""
    monkeypatch.chdir(tmp_path)

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(
            app, list(args), input=input, catch_exceptions=False, prog_name="fwstart"
        )

    return run


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root, by relative path, with its bytes (git's own metadata aside)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }
