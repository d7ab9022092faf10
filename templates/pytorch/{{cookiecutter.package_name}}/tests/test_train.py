import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from {{ cookiecutter.package_name }}.config import with_overrides
from {{ cookiecutter.package_name }}.data import Batches, augments, load_splits
from {{ cookiecutter.package_name }}.distributed import STOP_CHECK_EVERY, Process
from {{ cookiecutter.package_name }}.model import build_model
from {{ cookiecutter.package_name }}.precision import mixed_precision
from {{ cookiecutter.package_name }}.progress import Progress
from {{ cookiecutter.package_name }}.run_lock import LOCK
from {{ cookiecutter.package_name }}.train import (
    CHECKPOINT,
    evaluate,
    main,
    make_optimizer,
    train,
    train_one_epoch,
)

from .saved_state import saved_progress
from .test_resume import (
    PACKAGE,
    QUIET,
    ROOT,
    assert_same_training,
    start_then_signal,
    train_command,
)


def test_dry_run_takes_one_step_and_writes_nothing(smoke_config, tmp_path):
    config = with_overrides(smoke_config, run_dir=str(tmp_path / "runs"))
    result = train(config, dry_run=True)
    assert result["train_loss"] > 0
    assert not (tmp_path / "runs").exists()


def one_epoch(config, steps_done=None):
    """The config's model after one epoch of training as train.py trains it, and its accuracy
    on the validation split."""
    torch.manual_seed(config.seed)
    process, splits = Process(torch.device("cpu")), load_splits(config.data)
    batches = Batches(
        splits["train"], config.batch_size, True, config.seed, process, augments(config)
    )
    model = build_model(config.model, 10, 8, 1)
    optimizer, scheduler = make_optimizer(model, config, len(batches))
    step_done = steps_done or Progress().counter(0, None)
    train_one_epoch(
        model,
        batches,
        optimizer,
        scheduler,
        mixed_precision(config.precision, process.device),
        process.device,
        step_done,
    )
    return evaluate(model, Batches(splits["val"], 256, False, 0, process), process.device)


def test_one_epoch_learns_the_digits(default_config):
    """Any sensible model, loss and augmentation is well above chance (0.1) after an epoch."""
    assert one_epoch(default_config)["accuracy"] > 0.5


def test_the_loss_stays_on_the_device_until_it_is_logged(default_config, monkeypatch):
    """Reading a tensor's value waits for the device (a GPU): this project's code never does
    it at every step (the optimizer's own step count lives on the CPU)."""
    reads, steps = [], []
    for name in ("item", "tolist", "__float__"):
        original = getattr(torch.Tensor, name)

        def counted(tensor, *args, _original=original, **kwargs):
            if sys._getframe(1).f_globals.get("__name__", "").startswith(PACKAGE):
                reads.append(1)
            return _original(tensor, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    progress = Progress()
    count = progress.counter(0, None)
    one_epoch(default_config, lambda loss, images: (steps.append(1), count(loss, images)))
    assert len(steps) > 10 and len(reads) <= 2  # evaluate's one read of its sums
    assert 0 < progress.epoch_loss < 10


def test_training_keeps_the_best_checkpoint_and_writes_metrics(trained):
    run_dir = Path(trained.run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert (run_dir / "best.ckpt").is_file()
    assert len(metrics["history"]) == trained.epochs
    assert metrics["test_accuracy"] > 0.5  # four epochs; the default config reaches > 0.95
    assert any((run_dir / "tensorboard").iterdir())


@pytest.mark.slow  # starts a training process
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs resource limits (Linux, macOS)")
def test_a_disk_that_refuses_writes_is_one_line(tmp_path):
    """A file-size limit makes the OS refuse the checkpoint's write, as a full disk does."""
    import resource

    def refuse_files_over_16_kb() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (16_384, 16_384))

    command = [
        sys.executable,
        "-m",
        PACKAGE + ".train",
        "--config",
        "configs/smoke.yaml",
        "--set",
        f"run_dir={tmp_path / 'runs'}",
        "--epochs",
        "1",
    ]
    result = subprocess.run(
        command,
        cwd=ROOT,
        env=QUIET,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=refuse_files_over_16_kb,
    )
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


def torchrun_command(run_dir: Path, trained, launcher: str = "torch.distributed.run") -> list[str]:
    """torchrun (or ``launcher``, which takes its arguments) with 2 processes, each taking half
    of a batch: the same images per step as the single process of ``trained``."""
    return [
        sys.executable,
        "-m",
        launcher,
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        f"{PACKAGE}.train",
        *train_command(run_dir)[3:],
        "--epochs",
        str(trained.epochs),
        "--set",
        f"batch_size={trained.batch_size // 2}",
    ]


@pytest.fixture(scope="module")
def torchrun_run(trained, tmp_path_factory) -> Path:
    """The run_dir of an uninterrupted torchrun run with 2 processes."""
    run_dir = tmp_path_factory.mktemp("torchrun") / "runs"
    result = subprocess.run(
        torchrun_command(run_dir, trained), env=QUIET, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


@pytest.mark.slow
def test_torchrun_with_two_processes_matches_one(trained, torchrun_run):
    run_dir = torchrun_run
    assert sorted(path.name for path in run_dir.iterdir() if path.name != LOCK) == [
        CHECKPOINT,
        "metrics.json",
{%- if cookiecutter.tracking %}
        "mlflow-run.json",
{%- endif %}
        "tensorboard",
    ]
    assert len(list((run_dir / "tensorboard").iterdir())) == 1
    metrics = json.loads((run_dir / "metrics.json").read_text())
    single = json.loads((Path(trained.run_dir) / "metrics.json").read_text())
    assert metrics["processes"] == 2
    assert abs(metrics["test_accuracy"] - single["test_accuracy"]) <= 0.03


def processes_running(word: str) -> list[str]:
    """The command lines of this machine's processes that contain ``word`` (Linux's /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # ended meanwhile
            continue
        if word in line:
            found.append(line)
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="lists processes through /proc")
def test_sigterm_to_torchrun_stops_every_process_at_one_step_and_it_resumes_bit_identical(
    trained, torchrun_run, tmp_path
):
    run_dir = tmp_path / "runs"
    # torchrun passes SIGTERM on to its processes; distributed.py's main passes their status up.
    command = torchrun_command(run_dir, trained, launcher=f"{PACKAGE}.distributed")
    stopped = start_then_signal(
        command, lambda: saved_progress(run_dir) is not None, signal.SIGTERM, within=300
    )
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr[-3000:]
    assert processes_running(str(run_dir)) == []  # no process left behind
    saved = saved_progress(run_dir)
    assert saved["step"] % STOP_CHECK_EVERY == 0  # where the processes agreed to stop

    resumed = subprocess.run(command, env=QUIET, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["resumed_from"] == {"epoch": saved["next_epoch"], "step": saved["step"] + 1}
    assert_same_training(run_dir, torchrun_run)
