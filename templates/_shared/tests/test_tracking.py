"""Experiment tracking: each training run is one MLflow run, read back with MlflowClient.

The tests log to a store of their own (conftest.py sets MLFLOW_TRACKING_URI).
"""

import json
import signal
import subprocess
{%- if cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server %}
from dataclasses import asdict
{%- endif %}
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Run

from {{ cookiecutter.package_name }} import tracking
from {{ cookiecutter.package_name }}.config import {{ "Config, " if cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server else "" }}with_overrides
{%- if cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server %}
from {{ cookiecutter.package_name }}.export import main as export_main
{%- endif %}
from {{ cookiecutter.package_name }}.train import CHECKPOINT, train

from .saved_state import saved_progress
from .test_resume import start_then_signal, train_command

ROOT = Path(__file__).resolve().parents[1]


def client() -> MlflowClient:
    return MlflowClient(tracking.tracking_uri())


def run_of(run_dir: str | Path) -> Run:
    """The MLflow run that trained into run_dir, as recorded there."""
    recorded = json.loads((Path(run_dir) / tracking.RUN_FILE).read_text())
    return client().get_run(recorded["run_id"])


def steps(run: Run, metric: str) -> list[int]:
    return sorted(point.step for point in client().get_metric_history(run.info.run_id, metric))


def test_a_run_logs_every_setting_each_epoch_the_system_and_its_files(trained):
    run = run_of(trained.run_dir)
    assert run.info.status == "FINISHED"
    assert run.data.params == tracking.params(trained)
    assert float(run.data.params["learning_rate"]) == trained.learning_rate
    metrics = json.loads((Path(trained.run_dir) / "metrics.json").read_text())
    for metric in set(metrics["history"][0]) - {"epoch"}:  # losses and accuracies
        assert steps(run, metric) == list(range(1, trained.epochs + 1)), metric
    assert run.data.metrics["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert {"framework", "device"} <= set(run.data.tags)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if commit.returncode == 0:
        assert run.data.tags["mlflow.source.git.commit"] == commit.stdout.strip()
    logged = {item.path for item in client().list_artifacts(run.info.run_id)}
    assert "metrics.json" in logged
    checkpoints = client().list_artifacts(run.info.run_id, "checkpoint")
    assert f"checkpoint/{CHECKPOINT}" in {item.path for item in checkpoints}


def test_a_run_that_raises_is_marked_failed(smoke_config, tmp_path):
    config = with_overrides(smoke_config, epochs=1, run_dir=str(tmp_path / "runs"))
    (tmp_path / "runs" / "metrics.json").mkdir(parents=True)  # so that writing it fails
    with pytest.raises(OSError):
        train(config)
    assert run_of(config.run_dir).info.status == "FAILED"


def start_and_stop_after_epoch(
    command: list[str], run_dir: Path, epoch: int, how: signal.Signals
) -> subprocess.CompletedProcess:
    """Start training; send ``how`` once MLflow holds ``epoch``'s figures."""

    def logged() -> bool:
        return (run_dir / tracking.RUN_FILE).is_file() and max(
            steps(run_of(run_dir), "val_accuracy"), default=0
        ) >= epoch

    return start_then_signal(command, logged, how, within=180)


@pytest.mark.slow
def test_a_killed_run_is_resumed_as_the_same_mlflow_run(tmp_path):
    run_dir = tmp_path / "runs"
    command = train_command(run_dir, "--epochs", "8")  # the last --epochs counts
    killed = start_and_stop_after_epoch(command, run_dir, 1, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    first = run_of(run_dir)
    assert first.info.status == "RUNNING"  # nothing could end it

    stopped = start_and_stop_after_epoch(command, run_dir, 2, signal.SIGTERM)
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-2000:]
    assert saved_progress(run_dir)["next_epoch"] >= 3  # saved where it stopped
    assert run_of(run_dir).info.run_id == first.info.run_id
    assert run_of(run_dir).info.status == "KILLED"

    finished = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert finished.returncode == 0, finished.stderr[-2000:]
    run = run_of(run_dir)
    assert run.info.run_id == first.info.run_id
    assert run.info.status == "FINISHED"
    assert set(steps(run, "val_accuracy")) == set(range(1, 9))
{%- if cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server %}


def test_export_adds_the_manifest_and_the_exported_files_to_the_run(trained: Config, tmp_path):
    config_file = tmp_path / "default.yaml"
    config_file.write_text(json.dumps(asdict(trained)))  # JSON is YAML
    quickest = min(trained.targets, key=["server", "edge", "web", "mobile"].index)
    assert export_main(["--config", str(config_file), "--target", quickest]) == 0
    exported = {
        item.path for item in client().list_artifacts(run_of(trained.run_dir).info.run_id, "export")
    }
    assert "export/manifest.json" in exported
    assert len(exported) > 1
{%- endif %}
