import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest
import tensorflow as tf

from {{ cookiecutter.package_name }}.config import with_overrides
from {{ cookiecutter.package_name }}.data import load_splits, make_dataset
from {{ cookiecutter.package_name }}.model import build_model
from {{ cookiecutter.package_name }}.train import main, train

from .conftest import ROOT


def test_dry_run_takes_one_step_and_writes_nothing(smoke_config, tmp_path):
    config = with_overrides(smoke_config, run_dir=str(tmp_path / "runs"))
    result = train(config, dry_run=True)
    assert result["train_loss"] > 0
    assert not (tmp_path / "runs").exists()


def test_one_epoch_lowers_the_loss(default_config):
    keras.utils.set_random_seed(0)
    data = make_dataset(load_splits(default_config.data)["train"], 64, shuffle=True, seed=0)
    model = build_model()
    model.compile(optimizer=keras.optimizers.AdamW(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.evaluate(data, verbose=0)
    model.fit(data, epochs=1, shuffle=False, verbose=0)
    after = model.evaluate(data, verbose=0)
    assert after < 0.7 * before


def test_training_keeps_the_best_checkpoint_and_writes_metrics(trained):
    run_dir = Path(trained.run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (run_dir / "best.keras").is_file()
    assert json.loads((run_dir / "best.json").read_text())["config"]["epochs"] == trained.epochs
    assert len(metrics["history"]) == trained.epochs
    assert metrics["test_accuracy"] > 0.5  # four epochs; the default config reaches > 0.95
    assert any((run_dir / "tensorboard").iterdir())


# As in a notebook: TensorFlow is already running, so its CPU thread pool is fixed.
STARTED_THEN_TRAIN = """
import sys
import tensorflow as tf
tf.constant(0.0) + 1.0
from {{ cookiecutter.package_name }}.train import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs resource limits (Linux, macOS)")
def test_real_threads_are_reported_and_a_disk_that_refuses_writes_is_one_line(folder_run,
                                                                              tmp_path):
    """Training in a process where TensorFlow already runs reports the threads it really
    uses (never 0); then a file-size limit makes the OS refuse a write, as a full disk does."""
    import resource

    def refuse_files_over_16_kb() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (16_384, 16_384))

    command = [sys.executable, "-c", STARTED_THEN_TRAIN, "--set", f"data={folder_run.data}",
               "--set", f"run_dir={tmp_path / 'runs'}", "--epochs", "1"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False,
                            preexec_fn=refuse_files_over_16_kb)
    assert f"({os.cpu_count()} CPU thread(s))" in result.stdout, result.stdout
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "run_dir" in errors[0] and "free space" in errors[0]


def test_bad_config_is_an_error_message_not_a_traceback(capsys):
    assert main(["--set", "epochs=-1", "--dry-run"]) == 2
    assert "epochs" in capsys.readouterr().err


@pytest.mark.skipif(not tf.config.list_physical_devices("GPU"), reason="needs a GPU")
def test_auto_device_trains_on_the_gpu(smoke_config):
    result = train(with_overrides(smoke_config, device="auto"), dry_run=True)
    assert result["device"].startswith("gpu")
