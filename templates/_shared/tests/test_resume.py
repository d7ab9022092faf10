"""Crash-safe training: a killed or stopped run resumes as if it had never stopped (bit for
bit, on the CPU), a stop signal saves where the run is, and a kill while a checkpoint is written
never leaves half of one.

What differs between the frameworks (how to read a resume state, a model's weights) is in
saved_state.py; these tests are the same for both.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.predict import main as predict_main
from {{ cookiecutter.package_name }}.progress import Progress, Stopped, stop_signals
from {{ cookiecutter.package_name }}.train import CHECKPOINT, main, parse_args, settings

from .saved_state import (
    EPOCHS,
    SAVE_FOREVER,
    best_weights,
    damaged_resume_state,
    save_weights,
    saved_progress,
    weights_in,
)

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "{{ cookiecutter.package_name }}"
# One CPU thread per process: the tests share small machines.
QUIET = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
# Damaged files: empty, and random bytes. A loader fed random bytes can fail in many ways (in
# torch's unpickler: UnpicklingError, IndexError, KeyError, UnicodeDecodeError, ...); fixed
# seeds, so that a failure repeats, and enough of them to meet each way.
DAMAGED = {"empty": [b""], "garbage": [random.Random(seed).randbytes(4096) for seed in range(24)]}


# The resumed runs are augmented, as a photo folder's are: the strictest case, in which every
# random layer (dropout, each transform of the augmentation) must go on where it stopped.
AUGMENTED = ("--set", "augment=true")


def train_command(run_dir: Path, *extra: str) -> list[str]:
    """python -m <package>.train on the smoke config, writing into run_dir."""
    return [
        sys.executable,
        "-m",
        f"{PACKAGE}.train",
        "--config",
        str(ROOT / "configs/smoke.yaml"),
        "--set",
        f"data={ROOT / 'data/digits.npz'}",
        "--set",
        f"run_dir={run_dir}",
        "--set",
        "threads=1",
        "--epochs",
        str(EPOCHS),
        *extra,
    ]


def train_arguments(run_dir: Path, *extra: str) -> list[str]:
    """train's arguments for the smoke config writing into run_dir (run in this process)."""
    return train_command(run_dir, *extra)[3:]


def saved_epoch(run_dir: Path) -> int | None:
    """The epoch an interrupted run would resume from, once its resume state exists."""
    progress = saved_progress(run_dir)
    return progress["next_epoch"] if progress else None


def ctrl_c_as_at_a_terminal() -> None:
    """In the child: Ctrl-C does what it does at a terminal, even where these tests were
    started in the background (a shell's background job, as CI may run them, ignores it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_then_signal(
    command: list[str],
    ready: Callable[[], bool],
    how: signal.Signals | list[signal.Signals],
    within: float = 120,
) -> subprocess.CompletedProcess:
    """Start ``command``; send it ``how`` as soon as ``ready()`` (or it ends by itself): a
    signal, or several a few milliseconds apart."""
    process = subprocess.Popen(
        command,
        env=QUIET,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_as_at_a_terminal,
    )
    deadline = time.monotonic() + within
    while not ready() and process.poll() is None:
        assert time.monotonic() < deadline, f"not ready after {within} s"
        time.sleep(0.01)
    for each in how if isinstance(how, list) else [how]:
        if process.poll() is None:
            process.send_signal(each)
            time.sleep(0.005)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def interrupt_when_printed(command: list[str], text: str) -> subprocess.CompletedProcess:
    """Start ``command``; press Ctrl-C as soon as it prints a line with ``text``. The output
    (stderr too) is read as it comes, so the Ctrl-C follows the line within milliseconds."""
    process = subprocess.Popen(
        command,
        env=QUIET,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=ctrl_c_as_at_a_terminal,
    )
    seen = []
    for line in process.stdout:
        seen.append(line)
        if text in line:
            process.send_signal(signal.SIGINT)
            break
    output, _ = process.communicate(timeout=600)
    return subprocess.CompletedProcess(command, process.returncode, "".join(seen) + output)


def start_and_stop_after_first_save(
    command: list[str], run_dir: Path, how: signal.Signals
) -> subprocess.CompletedProcess:
    return start_then_signal(command, lambda: saved_progress(run_dir) is not None, how)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run_dir of an uninterrupted run of train_command: what a resumed run must match."""
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "runs"
    finished = subprocess.run(
        train_command(run_dir, *AUGMENTED),
        env=QUIET,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    return run_dir


def assert_same_training(run_dir: Path, reference: Path) -> None:
    """Bit for bit: every epoch's losses and accuracies, the test figures and the best
    checkpoint's weights (the last epoch's, in these runs)."""
    ours, theirs = (
        json.loads((folder / "metrics.json").read_text()) for folder in (run_dir, reference)
    )
    for name in ("history", "best_val_accuracy", "test_loss", "test_accuracy"):
        assert ours[name] == theirs[name], name
    for mine, reference_weights in zip(
        best_weights(run_dir / CHECKPOINT), best_weights(reference / CHECKPOINT), strict=True
    ):
        assert mine.tobytes() == reference_weights.tobytes()


@pytest.mark.slow
@pytest.mark.parametrize(
    "how",
    [
        [signal.SIGTERM],
        # Slurm's warning, then more signals while it saves.
        [signal.SIGUSR1, *[signal.SIGTERM] * 8],
    ],
)
def test_a_stop_signal_saves_where_the_run_is_and_it_resumes_bit_identical(
    tmp_path, uninterrupted, how
):
    run_dir = tmp_path / "runs"
    command = train_command(run_dir, *AUGMENTED)  # no step checkpoints: the stop itself saves

    def in_epoch_2() -> bool:
        if saved_epoch(run_dir) != 2:  # epoch 1 is saved; let epoch 2 begin
            return False
        time.sleep(0.2)
        return True

    stopped = start_then_signal(command, in_epoch_2, how)
    assert stopped.returncode == 128 + how[0], stopped.stderr[-2000:]
    saved = saved_progress(run_dir)
    assert saved["next_epoch"] >= 2 and len(saved["history"]) == saved["next_epoch"] - 1

    other = subprocess.run(
        train_command(run_dir, *AUGMENTED, "--set", "learning_rate=0.01"),
        env=QUIET,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert other.returncode == 2
    assert "--fresh" in other.stderr and "Traceback" not in other.stderr

    resumed = subprocess.run(command, env=QUIET, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["resumed_from"] == {"epoch": saved["next_epoch"], "step": saved["step"] + 1}
    assert_same_training(run_dir, uninterrupted)
    assert saved_epoch(run_dir) is None  # the next run starts afresh


def test_signals_after_a_stop_are_ignored_until_the_process_has_exited():
    """A launcher may signal again while a stopped run saves and exits; the exit status must
    still be the first signal's, even for a signal that comes as Python shuts down."""
    script = f"""
import os, signal, sys, time
from {PACKAGE}.progress import Progress, Stopped, stop_signals

class SignalsAsPythonShutsDown:  # freed after Python has dropped its own signal handlers
    def __del__(self, kill=os.kill, pid=os.getpid()):
        kill(pid, signal.SIGTERM)

try:
    with stop_signals() as stop:
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.01)
        Progress().stop_if_asked(stop, None)
except Stopped as stopped:
    late = SignalsAsPythonShutsDown()
    sys.exit(stopped.status)
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=QUIET,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 128 + signal.SIGUSR1, done.stderr[-2000:]


@pytest.mark.slow
def test_a_run_killed_after_a_step_checkpoint_resumes_bit_identical(tmp_path, uninterrupted):
    run_dir = tmp_path / "runs"
    command = train_command(run_dir, *AUGMENTED, "--set", "checkpoint_every_steps=3")
    killed = start_and_stop_after_first_save(command, run_dir, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    saved = saved_progress(run_dir)
    assert saved["step"] > 0, saved  # killed within an epoch, after a step checkpoint

    resumed = subprocess.run(command, env=QUIET, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["resumed_from"] == {"epoch": saved["next_epoch"], "step": saved["step"] + 1}
    assert [entry["epoch"] for entry in metrics["history"]] == list(range(1, EPOCHS + 1))
    assert_same_training(run_dir, uninterrupted)
    assert saved_progress(run_dir) is None


@pytest.mark.parametrize(
    "how", [signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGUSR1", signal.SIGTERM)]
)
def test_a_stop_signal_while_training_asks_the_loop_to_stop(how):
    """The loop's check returns the signal, which becomes the exit status 128 + its number."""
    progress, saves = Progress(next_epoch=2, step=5), []
    ctrl_c = signal.signal(signal.SIGINT, signal.default_int_handler)  # as at a terminal
    try:
        with stop_signals() as stop, pytest.raises(Stopped) as stopped:
            assert stop(progress.step) == 0
            os.kill(os.getpid(), how)
            time.sleep(0.01)  # Python runs the handler between two bytecodes
            progress.stop_if_asked(stop, lambda: saves.append(progress.position()))
    finally:
        signal.signal(signal.SIGINT, ctrl_c)
    assert stopped.value.status == 128 + how and saves == ["epoch 2, step 6"]


@pytest.mark.slow
def test_a_kill_while_writing_never_leaves_a_half_written_checkpoint(tmp_path):
    path = tmp_path / f"saved{Path(CHECKPOINT).suffix}"
    before = save_weights(path)
    script = [sys.executable, "-c", SAVE_FOREVER, str(path)]
    crashed = subprocess.run(
        [*script, "crash-before-rename"], env=QUIET, capture_output=True, timeout=120
    )
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


@pytest.mark.parametrize("how", ["empty", "garbage"])
def test_a_damaged_resume_state_is_one_line_naming_it(tmp_path, capsys, how):
    arguments = train_arguments(tmp_path / "runs")
    config = settings(parse_args(arguments))
    for content in DAMAGED[how]:
        damaged = damaged_resume_state(tmp_path / "runs", config, content)
        assert main(arguments) == 2
        error = capsys.readouterr().err
        assert str(damaged) in error and error.count("\n") == 1
    assert main([*arguments, "--fresh", "--epochs", "1"]) == 0  # the fix it gives works


@pytest.mark.parametrize("how", ["empty", "garbage"])
def test_a_damaged_best_checkpoint_is_one_line_naming_it(tmp_path, capsys, how):
    best = tmp_path / CHECKPOINT
    for content in DAMAGED[how]:
        best.write_bytes(content)
        assert predict_main([str(ROOT / "data/digits.npz"), "--model", str(best)]) == 1
        error = capsys.readouterr().err
        assert str(best) in error and error.count("\n") == 1


# Holds run_dir's lock until killed: python -c HOLD RUN_DIR
HOLD = f"""
import pathlib, sys, time
from {PACKAGE}.run_lock import held
with held(pathlib.Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_second_run_in_a_run_dir_is_refused_and_the_lock_dies_with_its_holder(tmp_path, capsys):
    run_dir = tmp_path / "runs"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run_dir)], env=QUIET, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        assert main(train_arguments(run_dir, "--epochs", "1")) == 2
        assert f"process {holder.pid} " in capsys.readouterr().err  # who holds it
        assert not (run_dir / CHECKPOINT).exists() and not (run_dir / "metrics.json").exists()
    finally:
        holder.kill()  # as a node that died, or a job cancelled to be requeued
        holder.wait()
    assert main(train_arguments(run_dir, "--epochs", "1")) == 0
    assert (run_dir / "metrics.json").is_file()
