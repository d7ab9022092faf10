import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from {{ cookiecutter.package_name }} import checkpoint
from {{ cookiecutter.package_name }}.config import with_overrides
from {{ cookiecutter.package_name }}.data import load_splits, make_loader
from {{ cookiecutter.package_name }}.model import DigitsCNN
from {{ cookiecutter.package_name }}.train import CHECKPOINT, evaluate, main, train, train_one_epoch

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "{{ cookiecutter.package_name }}"
# One CPU thread per process: the tests share small machines.
QUIET = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


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
    where = {{ '"MLflow store"' if cookiecutter.tracking else '"run_dir"' }}  # the first to write
    assert len(errors) == 1 and where in errors[0] and "free space" in errors[0]


def test_bad_config_is_an_error_message_not_a_traceback(capsys):
    assert main(["--set", "epochs=-1", "--dry-run"]) == 2
    assert "epochs" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_auto_device_trains_on_the_gpu(smoke_config):
    result = train(with_overrides(smoke_config, device="auto"), dry_run=True)
    assert result["device"].startswith("cuda")


EPOCHS = 3  # several seconds each: time to stop a run after its first epoch


def saved_progress(run_dir: Path) -> dict | None:
    """The progress an interrupted run would resume from, once its resume state exists."""
    path = run_dir / checkpoint.RESUME
    return checkpoint.load(path)["progress"] if path.is_file() else None


def load_best(path: Path) -> dict:
    return checkpoint.load(path)


def train_command(run_dir: Path, *extra: str) -> list[str]:
    """python -m <package>.train on the smoke config, writing into run_dir."""
    return [sys.executable, "-m", f"{PACKAGE}.train", "--config", str(ROOT / "configs/smoke.yaml"),
            "--set", f"data={ROOT / 'data/digits.npz'}", "--set", f"run_dir={run_dir}",
            "--set", "threads=1", "--epochs", str(EPOCHS), *extra]


def saved_epoch(run_dir: Path) -> int | None:
    """The epoch an interrupted run would resume from, once its resume state exists."""
    progress = saved_progress(run_dir)
    return progress["next_epoch"] if progress else None


def start_and_stop_after_first_save(command: list[str], run_dir: Path,
                                    how: signal.Signals) -> subprocess.CompletedProcess:
    process = subprocess.Popen(command, env=QUIET, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while saved_progress(run_dir) is None and process.poll() is None:
        assert time.monotonic() < deadline, "no resume state after two minutes"
        time.sleep(0.01)
    process.send_signal(how)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.mark.slow
def test_a_killed_run_resumes_with_every_epoch_once(tmp_path):
    run_dir = tmp_path / "runs"
    command = train_command(run_dir)
    killed = start_and_stop_after_first_save(command, run_dir, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    saved = saved_epoch(run_dir)

    other = subprocess.run(train_command(run_dir, "--set", "learning_rate=0.01"), env=QUIET,
                           capture_output=True, text=True, timeout=120)
    assert other.returncode == 2
    assert "same settings" in other.stderr and "--fresh" in other.stderr

    resumed = subprocess.run(command, env=QUIET, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.count(f"resuming from epoch {saved}") == 1
    history = json.loads((run_dir / "metrics.json").read_text())["history"]
    assert [entry["epoch"] for entry in history] == list(range(1, EPOCHS + 1))
    assert saved_epoch(run_dir) is None  # the next run starts afresh


@pytest.mark.slow
def test_a_run_killed_after_a_step_checkpoint_resumes_within_the_epoch(tmp_path):
    run_dir = tmp_path / "runs"
    command = train_command(run_dir, "--set", "checkpoint_every_steps=3")
    killed = start_and_stop_after_first_save(command, run_dir, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    saved = saved_progress(run_dir)
    assert saved["step"] > 0, saved  # killed within an epoch, after a step checkpoint
    position = f"epoch {saved['next_epoch']}, step {saved['step'] + 1}"

    resumed = subprocess.run(command, env=QUIET, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.count(f"resuming from {position}") == 1
    history = json.loads((run_dir / "metrics.json").read_text())["history"]
    assert [entry["epoch"] for entry in history] == list(range(1, EPOCHS + 1))
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert saved_progress(run_dir) is None


@pytest.mark.slow
def test_ctrl_c_says_how_to_resume_and_fresh_starts_over(tmp_path):
    run_dir = tmp_path / "runs"
    stopped = start_and_stop_after_first_save(train_command(run_dir), run_dir, signal.SIGINT)
    assert stopped.returncode == 130
    assert "Traceback" not in stopped.stderr
    last_line = stopped.stderr.strip().splitlines()[-1]
    assert last_line.startswith("interrupted: ")
    assert f"resume from epoch {saved_epoch(run_dir)}" in last_line
    load_best(run_dir / CHECKPOINT)

    fresh = subprocess.run(train_command(run_dir, "--epochs", "1", "--fresh"), env=QUIET,
                           capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0, fresh.stderr
    assert "resuming" not in fresh.stdout
    assert len(json.loads((run_dir / "metrics.json").read_text())["history"]) == 1


# Writes one checkpoint after another: python -c SAVE_FOREVER PATH MODE
SAVE_FOREVER = f"""
import os, pathlib, sys
from {PACKAGE} import checkpoint
from {PACKAGE}.model import DigitsCNN
model = DigitsCNN()
if sys.argv[2] == "crash-before-rename":  # killed between the temporary file and the rename
    os.replace = lambda *paths: os.kill(os.getpid(), 9)
print("ready", flush=True)
while True:
    checkpoint.save(dict(model=model.state_dict()), pathlib.Path(sys.argv[1]))
"""


def weights_in(path: Path) -> list:
    return [tensor.numpy() for tensor in checkpoint.load(path)["model"].values()]


def save_weights(path: Path) -> list:
    model = DigitsCNN()
    checkpoint.save({"model": model.state_dict()}, path)
    return weights_in(path)


@pytest.mark.slow
def test_a_kill_while_writing_never_leaves_a_half_written_checkpoint(tmp_path):
    path = tmp_path / "saved.ckpt"
    before = save_weights(path)
    script = [sys.executable, "-c", SAVE_FOREVER, str(path)]
    crashed = subprocess.run([*script, "crash-before-rename"], env=QUIET, capture_output=True,
                             timeout=120)
    assert crashed.returncode == -signal.SIGKILL
    for old, now in zip(before, weights_in(path), strict=True):
        assert (old == now).all()  # the previous checkpoint, whole
    rng = random.Random(0)
    for _ in range(4):
        writer = subprocess.Popen([*script, "loop"], env=QUIET, stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline() == "ready\n"
        time.sleep(rng.random() / 2)  # a random moment among the writes
        writer.kill()
        writer.communicate()
        assert len(weights_in(path)) == len(before)  # loads, whole
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
    assert result.stdout.count("test accuracy") == 1
    assert result.stdout.count("Training on") == 1
    assert sorted(path.name for path in run_dir.iterdir()) == [
        CHECKPOINT, "metrics.json",{{ ' "mlflow-run.json",' if cookiecutter.tracking else "" }} "tensorboard"]
    assert len(list((run_dir / "tensorboard").iterdir())) == 1
    metrics = json.loads((run_dir / "metrics.json").read_text())
    single = json.loads((Path(trained.run_dir) / "metrics.json").read_text())
    assert metrics["processes"] == 2
    assert metrics["history"][-1]["train_loss"] < 0.5 * metrics["history"][0]["train_loss"]
    assert abs(metrics["test_accuracy"] - single["test_accuracy"]) <= 0.03
