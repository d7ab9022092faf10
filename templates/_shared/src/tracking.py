"""Experiment tracking with MLflow: each training run is one MLflow run.

Logged: every setting as a parameter, each epoch's losses and accuracy, the test figures,
the system (framework version, device; MLflow adds the git commit inside a repository),
the best checkpoint and metrics.json, and after export the manifest and exported files.

By default the runs go to a SQLite store and an artifacts folder in mlruns/ (git-ignored):
    mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db
MLFLOW_TRACKING_URI (e.g. http://mlflow.example.com:5000) sends them to a team's server
instead, with no change to the code.

A run that raises is marked FAILED; a stop signal (Ctrl-C, SIGTERM, SIGUSR1: train.py saves
and stops) marks it KILLED. A run killed outright (SIGKILL, a lost machine) stays RUNNING: its
id is kept in run_dir/mlflow-run.json, and the same command, which resumes the training, goes
on with the same MLflow run.
"""

import json
import logging
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import mlflow
from alembic.util import CommandError
from mlflow import MlflowClient
from mlflow.entities import Experiment
from mlflow.exceptions import MlflowException
from sqlalchemy.exc import SQLAlchemyError

from .config import Config
from .progress import write_json

STORE = Path("mlruns")
EXPERIMENT = "{{ cookiecutter.distribution_name }}"
RUN_FILE = "mlflow-run.json"


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI if set, otherwise the project's own SQLite store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(STORE / 'mlflow.db').absolute()}"


@contextmanager
def run(config: Config, fresh: bool, system: dict[str, str], main: bool = True) -> Iterator[None]:
    """Track the training inside the ``with`` block as one MLflow run (only where ``main``).

    Args:
        config: the run's settings, logged as parameters.
        fresh: start a new MLflow run even if an unfinished one is recorded in run_dir.
        system: tags that describe where it ran (framework version, device).
        main: False in all but one of several processes, which log nothing.
    """
    if not main:
        yield
        return
    try:
        with _tracked(config, fresh, system):
            yield
    except (MlflowException, SQLAlchemyError, CommandError) as error:
        raise ValueError(
            f"The MLflow store {tracking_uri()} failed: {_reason(error)}. Check "
            "the free space on its disk, or set MLFLOW_TRACKING_URI to another "
            "store."
        ) from None


@contextmanager
def _tracked(config: Config, fresh: bool, system: dict[str, str]) -> Iterator[None]:
    run_dir = Path(config.run_dir)
    run_id = _unfinished_run(run_dir / RUN_FILE, fresh)
    nested = mlflow.active_run() is not None  # a tuning trial inside its study's run
    active = mlflow.start_run(
        run_id=run_id, experiment_id=None if run_id else experiment_id(), nested=nested
    )
    status = "FAILED"
    try:
        if run_id is None:
            _start(run_dir, active.info.run_id, config, system)
        yield
        _log_results(run_dir)
        write_json(run_dir / RUN_FILE, {"run_id": active.info.run_id, "finished": True})
        status = "FINISHED"
    except KeyboardInterrupt:  # a stop signal (progress.Stopped) or Ctrl-C
        status = "KILLED"
        raise
    finally:
        mlflow.end_run(status)


def log_epoch(record: dict[str, float]) -> None:
    """Log one finished epoch's figures (losses, accuracies) at the epoch's number."""
    figures = {name: value for name, value in record.items() if name != "epoch"}
    mlflow.log_metrics(figures, step=int(record["epoch"]))
{%- if cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server %}


def log_export(config: Config) -> None:
    """Add the manifest and the exported files to the run that trained the checkpoint."""
    run_file = Path(config.run_dir) / RUN_FILE
    if not run_file.is_file():
        print(f"note: no MLflow run recorded in {run_file}; the export is not tracked.")
        return
    mlflow.set_tracking_uri(tracking_uri())
    run_id = json.loads(run_file.read_text())["run_id"]
    MlflowClient().log_artifacts(run_id, config.artifacts_dir, "export")
    print(f"export logged to MLflow run {run_id}")
{%- endif %}


def params(config: Config) -> dict[str, str]:
    """Every setting, as MLflow parameters (text)."""
    return {
        name: ", ".join(value) if isinstance(value, tuple) else str(value)
        for name, value in asdict(config).items()
    }


def experiment_id() -> str:
    """The project's experiment (named after it), created on first use."""
    mlflow.set_tracking_uri(tracking_uri())
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the store's setup, not news
    # It logs a database error with its traceback; run() tells the person in one line.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    if found := _first_look():
        return found.experiment_id
    location = None  # a tracking server chooses its own
    if (uri := tracking_uri()).startswith("sqlite:///"):  # beside the database
        location = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").absolute().as_uri()
    try:
        return mlflow.create_experiment(EXPERIMENT, artifact_location=location)
    except MlflowException:  # another process created it meanwhile
        return mlflow.get_experiment_by_name(EXPERIMENT).experiment_id


def _first_look() -> Experiment | None:
    """The experiment, if it exists. The first look creates a SQLite store; a second process
    doing the same at that moment fails on its half-made tables and waits for the first."""
    for attempt in range(30):
        try:
            return mlflow.get_experiment_by_name(EXPERIMENT)
        except (MlflowException, SQLAlchemyError, CommandError):
            if attempt == 29 or not tracking_uri().startswith("sqlite:"):
                raise
            time.sleep(1)
    return None


def _unfinished_run(run_file: Path, fresh: bool) -> str | None:
    """The id of an interrupted run to go on with; with ``fresh``, that run is ended."""
    experiment_id()  # sets the store up
    if not run_file.is_file():
        return None
    recorded = json.loads(run_file.read_text())
    if recorded["finished"]:
        return None
    if not fresh:
        return recorded["run_id"]
    client = MlflowClient()
    if client.get_run(recorded["run_id"]).info.status == "RUNNING":
        client.set_terminated(recorded["run_id"], "KILLED")  # its process died
    return None


def _start(run_dir: Path, run_id: str, config: Config, system: dict[str, str]) -> None:
    mlflow.log_params(params(config))
    mlflow.set_tags({**system, **_git_commit()})
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / RUN_FILE, {"run_id": run_id, "finished": False})


def _git_commit() -> dict[str, str]:
    """The commit of the code that ran, as MLflow's own tag, when it is in a git repository."""
    try:
        found = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):  # no git here
        return {}
    return {"mlflow.source.git.commit": found.stdout.strip()} if found.returncode == 0 else {}


def _reason(error: BaseException) -> str:
    """The root cause's first line (the database's own words, such as disk I/O error)."""
    while error.__cause__ is not None:
        error = error.__cause__
    text = str(getattr(error, "orig", None) or error)
    return text.splitlines()[0] if text else type(error).__name__


def _log_results(run_dir: Path) -> None:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    mlflow.log_metrics(
        {
            name: value
            for name, value in metrics.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
    )
    mlflow.log_artifact(str(run_dir / "metrics.json"))
    for path in sorted(run_dir.glob("best.*")):
        mlflow.log_artifact(str(path), "checkpoint")
