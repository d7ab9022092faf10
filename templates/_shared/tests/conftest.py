"""Shared fixtures: a short training run in a temporary folder, reused by the tests."""

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.config import Config, load_config, with_overrides
from {{ cookiecutter.package_name }}.train import train

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def default_config() -> Config:
    return load_config(ROOT / "configs" / "default.yaml")


@pytest.fixture(scope="session")
def smoke_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """configs/smoke.yaml, writing into a temporary folder."""
    out = tmp_path_factory.mktemp("run")
    config = load_config(ROOT / "configs" / "smoke.yaml")
    return with_overrides(config, data=str(ROOT / config.data), run_dir=str(out / "runs"),
                          artifacts_dir=str(out / "artifacts"))


@pytest.fixture(scope="session")
def trained(smoke_config: Config) -> Config:
    """A model trained with the smoke config (once per test session)."""
    train(smoke_config)
    return smoke_config
