import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from {{ cookiecutter.package_name }}.config import with_overrides
from {{ cookiecutter.package_name }}.data import load_splits, make_loader
from {{ cookiecutter.package_name }}.model import DigitsCNN
from {{ cookiecutter.package_name }}.train import CHECKPOINT, evaluate, main, train, train_one_epoch

from .test_resume import PACKAGE, QUIET, ROOT, train_command


def test_dry_run_takes_one_step_and_writes_nothing(smoke_config, tmp_path):
    config = with_overrides(smoke_config, run_dir=str(tmp_path / "runs"))
    result = train(config, dry_run=True)
    assert result["train_loss"] > 0
    assert not (tmp_path / "runs").exists()


def test_one_epoch_lowers_the_loss(default_config):
    torch.manual_seed(0)
    split = load_splits(default_config.data)["train"]
    loader = make_loader(split, 64, shuffle=True, seed=0)
    model = DigitsCNN()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0)
    before, _ = evaluate(model, loader, torch.device("cpu"))
    train_one_epoch(model, loader, optimizer, scheduler, torch.device("cpu"))
    after, _ = evaluate(model, loader, torch.device("cpu"))
    assert after < 0.7 * before


def test_training_keeps_the_best_checkpoint_and_writes_metrics(trained):
    run_dir = Path(trained.run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (run_dir / "best.ckpt").is_file()
    assert len(metrics["history"]) == trained.epochs
    assert metrics["test_accuracy"] > 0.5  # four epochs; the default config reaches > 0.95
    assert any((run_dir / "tensorboard").iterdir())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs resource limits (Linux, macOS)")
def test_a_disk_that_refuses_writes_is_one_line(tmp_path):
    """A file-size limit makes the OS refuse the checkpoint's write, as a full disk does."""
    import resource

    def refuse_files_over_16_kb() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (16_384, 16_384))

    command = [sys.executable, "-m", PACKAGE + ".train", "--config", "configs/smoke.yaml",
               "--set", f"run_dir={tmp_path / 'runs'}", "--epochs", "1"]
    result = subprocess.run(command, cwd=ROOT, env=QUIET, capture_output=True, text=True,
                            check=False, preexec_fn=refuse_files_over_16_kb)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr


def test_bad_config_is_an_error_message_not_a_traceback(capsys):
    assert main(["--set", "epochs=-1", "--dry-run"]) == 2
    assert "epochs" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_auto_device_trains_on_the_gpu(smoke_config):
    result = train(with_overrides(smoke_config, device="auto"), dry_run=True)
    assert result["device"].startswith("cuda")


@pytest.mark.slow
def test_torchrun_with_two_processes_matches_one(trained, tmp_path):
    run_dir = tmp_path / "runs"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node=2", "-m", f"{PACKAGE}.train", *train_command(run_dir)[3:],
                "--epochs", str(trained.epochs),
                # Half a batch per process: the same images per step as the single process.
                "--set", f"batch_size={trained.batch_size // 2}"]
    result = subprocess.run(torchrun, env=QUIET, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(path.name for path in run_dir.iterdir()) == [
        CHECKPOINT, "metrics.json",{{ ' "mlflow-run.json",' if cookiecutter.tracking else "" }} "tensorboard"]
    assert len(list((run_dir / "tensorboard").iterdir())) == 1
    metrics = json.loads((run_dir / "metrics.json").read_text())
    single = json.loads((Path(trained.run_dir) / "metrics.json").read_text())
    assert metrics["processes"] == 2
    assert metrics["history"][-1]["train_loss"] < 0.5 * metrics["history"][0]["train_loss"]
    assert abs(metrics["test_accuracy"] - single["test_accuracy"]) <= 0.03
