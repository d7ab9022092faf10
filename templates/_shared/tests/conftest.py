"""Shared fixtures: a short training run in a temporary folder, reused by the tests."""

from pathlib import Path

{% if cookiecutter.server -%}
import numpy as np
{% endif -%}
import pytest

from {{ cookiecutter.package_name }}.config import Config, load_config, with_overrides
{% if cookiecutter.server -%}
from {{ cookiecutter.package_name }}.data import as_model_input, load_splits
from {{ cookiecutter.package_name }}.export import export
{% endif -%}
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
{%- if cookiecutter.server %}


@pytest.fixture(scope="session")
def artifacts(trained: Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server target's export of the trained model (once per test session)."""
    folder = tmp_path_factory.mktemp("served")
    export(with_overrides(trained, targets=["server"], artifacts_dir=str(folder)))
    return folder


@pytest.fixture(scope="session")
def images(trained: Config) -> np.ndarray:
    """16 test images, as the model takes them."""
    return as_model_input(load_splits(trained.data)["test"].images[:16])
{%- endif %}
