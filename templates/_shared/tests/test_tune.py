"""Tuning: two processes share one Optuna study, and the config it writes trains."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
{%- if cookiecutter.tracking %}
from mlflow import MlflowClient
{%- endif %}
from optuna.trial import TrialState

{% if cookiecutter.tracking -%}
from {{ cookiecutter.package_name }} import tracking
{% endif -%}
from {{ cookiecutter.package_name }}.train import main
from {{ cookiecutter.package_name }}.tune import load_space
from {{ cookiecutter.package_name }}.tune import main as tune_main

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "{{ cookiecutter.package_name }}"
STUDY = "{{ cookiecutter.distribution_name }}"
TRIALS = 4


def test_the_search_space_names_settings_and_ranges(tmp_path):
    assert {"learning_rate", "weight_decay", "batch_size"} <= set(
        load_space(ROOT / "configs" / "search.yaml")
    )
    wrong = tmp_path / "search.yaml"
    wrong.write_text("learning_rte: {low: 0.001, high: 0.1}\n")
    with pytest.raises(ValueError, match="learning_rte"):
        load_space(wrong)


@pytest.mark.parametrize("storage", ["banana://x", "sqlite:////no/such/folder/study.db"])
def test_a_storage_that_cannot_be_opened_is_one_line(storage, tmp_path, capsys):
    code = tune_main(
        [
            "--trials",
            "1",
            "--storage",
            storage,
            "--config",
            str(ROOT / "configs/smoke.yaml"),
            "--space",
            str(ROOT / "configs/search.yaml"),
            "--output",
            str(tmp_path / "tuned.yaml"),
        ]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1 and "--storage" in error
    assert not (tmp_path / "tuned.yaml").exists()


def tune_in(tmp_path: Path, *flags: str) -> int:
    """python -m <package>.tune for one one-epoch trial, writing into tmp_path."""
    return tune_main(
        [
            "--trials",
            "1",
            "--epochs",
            "1",
            *flags,
            "--config",
            str(ROOT / "configs/smoke.yaml"),
            "--space",
            str(ROOT / "configs/search.yaml"),
            "--output",
            str(tmp_path / "tuned.yaml"),
            "--set",
            f"data={ROOT / 'data/digits.npz'}",
            "--set",
            f"run_dir={tmp_path / 'runs'}",
        ]
    )


def test_a_database_password_is_never_printed(tmp_path, capsys):
    assert tune_in(tmp_path, "--storage", "postgresql://someone:s3cr3t@127.0.0.1:9/study") == 2
    printed = capsys.readouterr()
    assert "s3cr3t" not in printed.out + printed.err
    assert not (tmp_path / "tuned.yaml").exists()


def test_a_damaged_default_journal_is_named_without_advice_about_a_flag_not_given(tmp_path, capsys):
    journal = tmp_path / "runs" / "optuna-journal.log"
    journal.parent.mkdir(parents=True)
    journal.write_bytes(b"\x00{not a journal\n")
    assert tune_in(tmp_path) == 2
    error = capsys.readouterr().err
    assert str(journal) in error and "leave out --storage" not in error
    assert not (tmp_path / "tuned.yaml").exists()


def test_a_journal_file_path_is_a_storage(tmp_path):
    journal = tmp_path / "shared" / "study.log"
    assert tune_in(tmp_path, "--storage", str(journal)) == 0
    study = optuna.load_study(
        study_name=STUDY,
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(journal))
        ),
    )
    assert len(study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))) == 1
    assert (tmp_path / "tuned.yaml").is_file()


def tune(tmp_path: Path) -> subprocess.Popen:
    """python -m <package>.tune for TRIALS one-epoch trials, its study and output in tmp_path."""
    command = [
        sys.executable,
        "-m",
        f"{PACKAGE}.tune",
        "--trials",
        str(TRIALS),
        "--epochs",
        "1",
        "--config",
        str(ROOT / "configs/smoke.yaml"),
        "--space",
        str(ROOT / "configs/search.yaml"),
        "--output",
        str(tmp_path / "configs/tuned.yaml"),
        "--set",
        f"data={ROOT / 'data/digits.npz'}",
        "--set",
        f"run_dir={tmp_path / 'runs'}",
        "--set",
        "threads=1",
    ]
    quiet = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        command, cwd=tmp_path, env=quiet, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(tmp_path: Path) -> list[optuna.trial.FrozenTrial]:
    backend = optuna.storages.journal.JournalFileBackend(str(tmp_path / "runs/optuna-journal.log"))
    study = optuna.load_study(study_name=STUDY, storage=optuna.storages.JournalStorage(backend))
    return study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))


@pytest.mark.slow
def test_two_processes_finish_the_trials_between_them_and_tuned_yaml_trains(tmp_path):
    (tmp_path / "configs").mkdir()
    shutil.copy(ROOT / "configs/default.yaml", tmp_path / "configs")  # what tuned.yaml extends
    processes = [tune(tmp_path) for _ in range(2)]
    for process in processes:
        _, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
    trials = finished(tmp_path)
    assert sorted(trial.number for trial in trials) == sorted({t.number for t in trials})
    assert len(trials) == TRIALS
    for trial in trials:
        if trial.state == TrialState.COMPLETE:  # each trained in a folder of its own
            assert (tmp_path / f"runs/tune/{STUDY}/trial-{trial.number}/metrics.json").is_file()

    tuned = yaml.safe_load((tmp_path / "configs/tuned.yaml").read_text())
    best = max((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    assert {name: tuned[name] for name in best.params} == best.params
    assert tuned["data"] == str(ROOT / "data/digits.npz")  # this run's --set is kept
    assert "epochs" not in tuned  # the short tuning epochs are not
    assert (
        main(
            [
                "--config",
                str(tmp_path / "configs/tuned.yaml"),
                "--epochs",
                "1",
                "--set",
                f"run_dir={tmp_path / 'final'}",
            ]
        )
        == 0
    )
    assert (tmp_path / "final/metrics.json").is_file()

    again = tune(tmp_path)  # the study has its trials: nothing more to train
    assert again.wait(timeout=300) == 0
    assert len(finished(tmp_path)) == TRIALS
{%- if cookiecutter.tracking %}

    client = MlflowClient(tracking.tracking_uri())
    runs = client.search_runs([client.get_experiment_by_name(tracking.EXPERIMENT).experiment_id])
    trial_runs = [
        run
        for run in runs
        if run.data.params.get("run_dir", "").startswith(str(tmp_path / "runs/tune"))
    ]
    assert len(trial_runs) == TRIALS
    parents = {run.data.tags.get("mlflow.parentRunId") for run in trial_runs}
    assert None not in parents  # each trial is nested in its process's study run
    assert {client.get_run(parent).info.run_name for parent in parents} == {f"tune {STUDY}"}
{%- endif %}
