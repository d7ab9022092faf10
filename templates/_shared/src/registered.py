"""A registered version of the model, fetched for the service through MLflow's client.

serve --model models:/{{ cookiecutter.distribution_name }}@ALIAS
(or models:/{{ cookiecutter.distribution_name }}/VERSION) finds the version in
MLflow's model registry (the project's mlruns/mlflow.db, or MLFLOW_TRACKING_URI's) and
downloads its files once (a registered version's files never change) into a cache
folder, --model-cache, by default ~/.cache/{{ cookiecutter.distribution_name }}/models.
Only MLflow's client is needed here (mlflow-skinny), not the training code.
"""

import hashlib
import os
import re
import tempfile
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

MODEL_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))")
DEFAULT_STORE = Path("mlruns") / "mlflow.db"  # tracking.py's


def default_cache() -> Path:
    """Where versions are kept: the user's cache folder (XDG_CACHE_HOME or ~/.cache)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "{{ cookiecutter.distribution_name }}" / "models"


def store_uri() -> str:
    """MLFLOW_TRACKING_URI if set, otherwise the project's own SQLite store, which must exist
    (the client would otherwise make an empty one)."""
    if uri := os.environ.get("MLFLOW_TRACKING_URI"):
        return uri
    if not DEFAULT_STORE.is_file():
        raise ValueError(
            f"No MLflow store at {DEFAULT_STORE.absolute()}: register a model "
            "first (python -m {{ cookiecutter.package_name }}.register), or set "
            "MLFLOW_TRACKING_URI to the registry that has it."
        )
    return f"sqlite:///{DEFAULT_STORE.absolute()}"


def fetch(uri: str, name: str, cache: Path | None = None) -> tuple[Path, str]:
    """The folder holding the registered version's files, and its version number; they are
    kept in ``cache`` (default_cache() if None).

    Raises:
        ValueError: for a URI that is not this model's, a version or alias the registry
            does not have, or a registry or cache that fails.
    """
    found = MODEL_URI.fullmatch(uri)
    if found is None or found["name"] != name:
        raise ValueError(
            f"--model {uri}: give models:/{name}@ALIAS or models:/{name}/VERSION "
            f"(this service serves {name})."
        )
    store = store_uri()
    mlflow.set_tracking_uri(store)
    try:
        version = _version(MlflowClient(), name, found["alias"], found["version"])
        if version is None:
            raise ValueError(
                f"{uri} is not in the MLflow registry at {store}: register it "
                "(python -m {{ cookiecutter.package_name }}.register --alias ALIAS), "
                "or set MLFLOW_TRACKING_URI to the registry that has it."
            )
        folder = (cache or default_cache()) / hashlib.sha256(store.encode()).hexdigest()[:12]
        folder = folder / version
        return _download(f"models:/{name}/{version}", folder), version
    except MlflowException as error:
        raise ValueError(
            f"The MLflow registry at {store} failed: {str(error).splitlines()[0]}"
        ) from None


def _version(client: MlflowClient, name: str, alias: str | None, number: str | None) -> str | None:
    """The version the alias points at, or the version number; None if there is none."""
    try:
        if alias is not None:
            pointed = client.get_registered_model(name).aliases.get(alias)
            return None if pointed is None else str(pointed)
        return str(client.get_model_version(name, str(number)).version)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def _download(uri: str, folder: Path) -> Path:
    """The version's files in ``folder``, downloaded unless an earlier start did; a download
    is renamed into place whole, so a folder that exists is complete."""
    if folder.is_dir():
        return folder
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder.parent) as scratch:
            (Path(scratch) / "files").mkdir()
            downloaded = mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=f"{scratch}/files"
            )
            os.replace(downloaded, folder)
    except OSError as error:
        if folder.is_dir():  # another service fetched it at the same moment
            return folder
        raise ValueError(
            f"Cannot keep {uri} in {folder.parent}: {error.strerror}. Pass "
            "--model-cache with a folder this service may write."
        ) from None
    return folder
