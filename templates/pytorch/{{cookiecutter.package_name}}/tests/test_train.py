import json
from pathlib import Path

import pytest
import torch

from {{ cookiecutter.package_name }}.config import with_overrides
from {{ cookiecutter.package_name }}.data import load_splits, make_loader
from {{ cookiecutter.package_name }}.model import DigitsCNN
from {{ cookiecutter.package_name }}.train import evaluate, main, train, train_one_epoch


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


def test_bad_config_is_an_error_message_not_a_traceback(capsys):
    assert main(["--set", "epochs=-1", "--dry-run"]) == 2
    assert "epochs" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_auto_device_trains_on_the_gpu(smoke_config):
    result = train(with_overrides(smoke_config, device="auto"), dry_run=True)
    assert result["device"].startswith("cuda")
