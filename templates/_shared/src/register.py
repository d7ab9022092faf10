"""Register the exported model in MLflow's model registry.

python -m {{ cookiecutter.package_name }}.register [--config FILE] [--alias NAME]...

Every file of the export's manifest, the manifest itself (with each file's parity figures) and
the training's metrics.json are logged to a new MLflow run, under model/, and that folder
becomes a new version of the registered model {{ cookiecutter.distribution_name }} in MLflow's
model registry. Each --alias given (such as champion) then points at that version; the others
stay where they were. An export that failed its verification, or whose manifest is missing or
damaged, is refused: nothing is registered.
{%- if cookiecutter.server %}

The service serves a registered version instead of an artifacts folder:
    python -m {{ cookiecutter.package_name }}.serve
        --model models:/{{ cookiecutter.distribution_name }}@champion
{%- endif %}

The registry lives in tracking's store: mlruns/mlflow.db by default, a team's server when
MLFLOW_TRACKING_URI says so.
"""

import argparse
import json
import sys
from pathlib import Path

import mlflow
from alembic.util import CommandError
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.utils.validation import (
    _validate_model_alias_name,
    _validate_model_alias_name_reserved,
)
from sqlalchemy.exc import SQLAlchemyError

from . import lineage, tracking
from .config import Config, load_config

MODEL_NAME = "{{ cookiecutter.distribution_name }}"


def alias_name(text: str) -> str:
    """An --alias value (for argparse), checked by MLflow's own rules before anything is made:
    letters, digits, - and _, and neither 'latest' (in any case) nor a version such as v3."""
    try:
        # The checks MLflow's registry stores run when an alias is set. Private names, but
        # the only definition of the rules: a copy of them let 'Latest' through, and MLflow
        # then refused it after making the version.
        _validate_model_alias_name(text)
        _validate_model_alias_name_reserved(text)
    except MlflowException as error:
        raise argparse.ArgumentTypeError(
            f"{text!r} cannot be an alias ({error.message}): use letters, digits, - and _ "
            "(such as champion), and neither 'latest' nor a version such as v3"
        ) from None
    return text


def _manifest(artifacts_dir: Path) -> dict:
    manifest_file = artifacts_dir / "manifest.json"
    if not manifest_file.is_file():
        raise ValueError(
            f"No {manifest_file}: export first (python -m {__package__}.export), then register."
        )
    try:
        manifest = json.loads(manifest_file.read_text())
        entries = manifest["artifacts"]
        files = [(entry["file"], list(entry["verified"])) for entry in entries]
        if not all(
            isinstance(file, str) and all(isinstance(check, dict) for check in checks)
            for file, checks in files
        ):
            raise TypeError("a file name that is not text, or a verification that is not an object")
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise ValueError(
            f"{manifest_file} is damaged ({type(error).__name__}: {error}): export again."
        ) from None
    if not files or any(Path(file).name != file for file, _ in files):
        raise ValueError(
            f"{manifest_file} is damaged (it lists no artifact, or a file "
            "outside its folder): export again."
        )
    return manifest


def verified_files(artifacts_dir: Path, run_dir: Path) -> list[Path]:
    """What to register: each exported file (or folder), the manifest and the training's
    metrics.

    Raises:
        ValueError: for a missing or damaged manifest, a file that failed its verification
            (or was never verified) or is missing, or a training without metrics.json.
    """
    manifest = _manifest(artifacts_dir)
    for entry in manifest["artifacts"]:
        if not entry["verified"]:
            raise ValueError(f"{entry['file']} was never verified: export again.")
        for check in entry["verified"]:
            if check.get("ok") is not True:
                raise ValueError(
                    f"{entry['file']} failed its verification in {check.get('runtime')} "
                    f"(max |diff| {check.get('max_abs_diff')}, top-1 agreement "
                    f"{check.get('top1_agreement')}): nothing registered. Export again once "
                    "every file verifies."
                )
    files = [artifacts_dir / entry["file"] for entry in manifest["artifacts"]]
    files += [artifacts_dir / "manifest.json", run_dir / "metrics.json"]
{%- if cookiecutter.monitoring %}
    files.append(artifacts_dir / manifest["monitoring"]["reference"])  # the service's drift one
{%- endif %}
    if missing := [str(path) for path in files if not path.exists()]:
        raise ValueError(f"Missing {', '.join(missing)}: train and export again.")
    lineage.warn_if_unrecorded(manifest, artifacts_dir / "manifest.json")
    if damaged := lineage.damaged_files(manifest, artifacts_dir):
        raise ValueError(
            f"{'; '.join(damaged)}: nothing registered. Export again (python -m "
            f"{__package__}.export)."
        )
    return files


def _figures(artifacts_dir: Path, run_dir: Path) -> dict[str, float]:
    """The training's test figures and the export's worst parity, as MLflow metrics."""
    manifest = json.loads((artifacts_dir / "manifest.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    checks = [check for entry in manifest["artifacts"] for check in entry["verified"]]
    return {
        **{
            name: value
            for name, value in metrics.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        },
        "max_abs_diff": max(check["max_abs_diff"] for check in checks),
        "min_top1_agreement": min(check["top1_agreement"] for check in checks),
    }


def _training_run(run_dir: Path) -> dict[str, str]:
    """A tag naming the MLflow run that trained the model, where tracking recorded one."""
    recorded = run_dir / tracking.RUN_FILE
    return (
        {"training_run_id": json.loads(recorded.read_text())["run_id"]}
        if recorded.is_file()
        else {}
    )


def register(config: Config, aliases: list[str]) -> tuple[ModelVersion, list[Path]]:
    """Log the verified export to a new run under model/, make that folder a new version of
    the registered model, and point each alias at it; the version and the files.

    Raises:
        ValueError: for an export that cannot be registered (see verified_files).
    """
    artifacts_dir, run_dir = Path(config.artifacts_dir), Path(config.run_dir)
    files = verified_files(artifacts_dir, run_dir)
    experiment = tracking.experiment_id()  # the project's store, set up on first use
    tags = _training_run(run_dir)
    with mlflow.start_run(
        experiment_id=experiment, run_name=f"register {MODEL_NAME}", tags=tags
    ) as run:
        for path in files:  # a file, or a folder such as a SavedModel
            if path.is_dir():
                mlflow.log_artifacts(str(path), f"model/{path.name}")
            else:
                mlflow.log_artifact(str(path), "model")
        mlflow.log_metrics(_figures(artifacts_dir, run_dir))
    client = MlflowClient()
    try:
        client.create_registered_model(MODEL_NAME)
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":  # the first version made it
            raise
    version = client.create_model_version(
        MODEL_NAME, f"runs:/{run.info.run_id}/model", run.info.run_id, tags=tags
    )
    for alias in aliases:
        client.set_registered_model_alias(MODEL_NAME, alias, version.version)
    return version, files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Register the exported model in MLflow.")
    parser.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    parser.add_argument(
        "--alias",
        type=alias_name,
        action="append",
        default=[],
        help="point this alias at the new version (repeatable)",
    )
    args = parser.parse_args(argv)
    try:
        version, files = register(load_config(args.config), args.alias)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (MlflowException, SQLAlchemyError, CommandError) as error:
        print(
            f"error: the MLflow registry at {tracking.tracking_uri()} failed: "
            f"{str(error).splitlines()[0]}. Check that store, or set MLFLOW_TRACKING_URI.",
            file=sys.stderr,
        )
        return 1
    aliases = f", alias {', '.join(args.alias)}" if args.alias else ""
    print(
        f"registered {len(files)} files as {MODEL_NAME} version {version.version}{aliases}: "
        f"models:/{MODEL_NAME}/{version.version}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
