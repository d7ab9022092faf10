"""Shared fixtures: a short training run in a temporary folder, reused by the tests."""

{% if cookiecutter.tracking -%}
import os
import shutil
import tempfile
{% endif -%}
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from {{ cookiecutter.package_name }}.config import Config, load_config, with_overrides
{% if cookiecutter.server -%}
from {{ cookiecutter.package_name }}.data import as_model_input, load_splits
from {{ cookiecutter.package_name }}.export import export
{% endif -%}
from {{ cookiecutter.package_name }}.train import train

ROOT = Path(__file__).resolve().parents[1]
{%- if cookiecutter.tracking %}
MLFLOW_STORE = Path(tempfile.mkdtemp(prefix="mlflow-tests-"))


def pytest_configure(config: pytest.Config) -> None:
    """Runs made by the tests (and their subprocesses) go to a store of their own."""
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{MLFLOW_STORE / 'mlflow.db'}"


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(MLFLOW_STORE, ignore_errors=True)
{%- endif %}


@pytest.fixture(scope="session")
def default_config() -> Config:
    return load_config(ROOT / "configs" / "default.yaml")


@pytest.fixture(scope="session")
def smoke_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """configs/smoke.yaml, writing into a temporary folder."""
    out = tmp_path_factory.mktemp("run")
    config = load_config(ROOT / "configs" / "smoke.yaml")
    return with_overrides(
        config,
        data=str(ROOT / config.data),
        run_dir=str(out / "runs"),
{%- if cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server or cookiecutter.registry %}
        artifacts_dir=str(out / "artifacts"),
{%- endif %}
    )


@pytest.fixture(scope="session")
def trained(smoke_config: Config) -> Config:
    """A model trained with the smoke config (once per test session)."""
    train(smoke_config)
    return smoke_config


@pytest.fixture(scope="session")
def folder_run(tmp_path_factory: pytest.TempPathFactory, smoke_config: Config) -> Config:
    """A model trained one epoch on 16x16 digits in class folders zero/, one/, two/."""
    out = tmp_path_factory.mktemp("folders")
    with np.load(ROOT / "data" / "digits.npz") as arrays:
        images, labels = arrays["x_train"], arrays["y_train"]
    for label, name in enumerate(["zero", "one", "two"]):
        (out / "images" / name).mkdir(parents=True)
        for index, image in enumerate(images[labels == label][:20]):
            larger = np.kron(image, np.ones((2, 2), np.uint8))
            Image.fromarray(larger).save(out / "images" / name / f"{index}.png")
    config = with_overrides(
        smoke_config,
        data=str(out / "images"),
        epochs=1,
        run_dir=str(out / "runs"),
{%- if cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server or cookiecutter.registry %}
        artifacts_dir=str(out / "artifacts"),
{%- endif %}
    )
    train(config)
    return config
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
