import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import pytest
import tensorflow as tf

from {{ cookiecutter.package_name }} import checkpoint
from {{ cookiecutter.package_name }}.config import load_config, with_overrides
from {{ cookiecutter.package_name }}.data import (
    augmentation,
    augments,
    load_splits,
    make_dataset,
)
from {{ cookiecutter.package_name }}.distributed import STOP_CHECK_EVERY
from {{ cookiecutter.package_name }}.model import build_model
from {{ cookiecutter.package_name }}.progress import Progress
from {{ cookiecutter.package_name }}.run_lock import LOCK
from {{ cookiecutter.package_name }}.train import (
    CHECKPOINT,
    evaluate,
    main,
    make_optimizer,
    make_train_step,
    train,
    train_one_epoch,
)

from .saved_state import saved_progress
from .test_resume import PACKAGE, QUIET, ROOT, assert_same_training, train_command


def test_dry_run_takes_one_step_and_writes_nothing(smoke_config, tmp_path):
    config = with_overrides(smoke_config, run_dir=str(tmp_path / "runs"))
    result = train(config, dry_run=True)
    assert result["train_loss"] > 0
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow  # starts a training process
def test_augmented_training_keeps_grappler_noise_off_stderr(tmp_path):
    """Grappler fails to cost some image ops of unknown batch size (tensorflow#56904, harmless):
    the augmentation's Keras layers print none of it."""
    command = train_command(tmp_path / "runs", "--dry-run", "--set", "augment=true")
    result = subprocess.run(
        command, env=QUIET, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "PredictCost" not in result.stderr, result.stderr


def one_epoch(config, step_done=None):
    """The config's model after one epoch of training as train.py trains it, and its accuracy
    on the validation split."""
    keras.utils.set_random_seed(config.seed)
    splits = load_splits(config.data)
    data = make_dataset(splits["train"], config.batch_size, shuffle=True, seed=config.seed)
    model = build_model(config.model, 10, 8, 1)
    optimizer = make_optimizer(model, config, len(data))
    transforms = augmentation() if augments(config) else None
    step = make_train_step(model, optimizer, tf.distribute.get_strategy(), False, transforms)
    train_one_epoch(step, data, step_done or Progress().counter(0, None))
    return evaluate(model, make_dataset(splits["val"], 256, shuffle=False, seed=0))


def test_one_epoch_learns_the_digits(default_config):
    """Any sensible model, loss and augmentation is well above chance (0.1) after an epoch."""
    assert one_epoch(default_config)["accuracy"] > 0.5


def test_the_loss_stays_on_the_device_until_it_is_logged(default_config):
    """Reading a tensor's value waits for the device (a GPU): never at every step."""
    losses, progress = [], Progress()
    count = progress.counter(0, None)

    def step_done(loss, images):
        losses.append(loss)
        count(loss, images)

    one_epoch(default_config, step_done)
    assert len(losses) > 10 and all(isinstance(loss, tf.Tensor) for loss in losses)
    assert 0 < progress.epoch_loss < 10


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


@pytest.mark.slow  # starts a training process
def test_real_threads_are_reported(tmp_path):
    """Training in a process where TensorFlow already runs reports the threads it really
    uses (never 0) in metrics.json."""
    command = [
        sys.executable,
        "-c",
        STARTED_THEN_TRAIN,
        "--config",
        "configs/smoke.yaml",
        "--set",
        f"run_dir={tmp_path / 'runs'}",
        "--epochs",
        "1",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "runs" / "metrics.json").read_text())
    assert metrics["threads"] == os.cpu_count()


@pytest.mark.slow  # starts a training process
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs resource limits (Linux, macOS)")
def test_a_disk_that_refuses_writes_is_one_line(tmp_path):
    """A file-size limit makes the OS refuse a write, as a full disk does."""
    import resource

    def refuse_files_over_16_kb() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (16_384, 16_384))

    command = [
        sys.executable,
        "-c",
        STARTED_THEN_TRAIN,
        "--set",
        f"run_dir={tmp_path / 'runs'}",
        "--epochs",
        "1",
    ]
    result = subprocess.run(
        command,
        cwd=ROOT,
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


@pytest.mark.skipif(not tf.config.list_physical_devices("GPU"), reason="needs a GPU")
def test_auto_device_trains_on_the_gpu(smoke_config):
    result = train(with_overrides(smoke_config, device="auto"), dry_run=True)
    assert result["device"].startswith("gpu")


# Saves the resume state over and over: python -c SAVE_RESUME_FOREVER RUN_DIR CONFIG
SAVE_RESUME_FOREVER = f"""
import pathlib, sys
import keras
from {PACKAGE} import checkpoint
from {PACKAGE}.config import load_config
from {PACKAGE}.model import build_model
from {PACKAGE}.progress import Progress
state = checkpoint.ResumeState(build_model(), keras.optimizers.AdamW())
saver = state.saver(pathlib.Path(sys.argv[1]), load_config(pathlib.Path(sys.argv[2])))
progress = Progress()
print("ready", flush=True)
while True:
    progress.step += 1
    state.save(saver, progress)
"""


@pytest.mark.slow
def test_a_kill_while_saving_the_resume_state_leaves_the_last_one_whole(tmp_path):
    config = ROOT / "configs/smoke.yaml"
    script = [sys.executable, "-c", SAVE_RESUME_FOREVER, str(tmp_path), str(config)]
    rng = random.Random(0)
    for _ in range(4):
        writer = subprocess.Popen(script, env=QUIET, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline() == "ready\n"
        time.sleep(0.5 + rng.random())  # a random moment among the saves
        writer.kill()
        writer.communicate()
        state = checkpoint.ResumeState(build_model(), keras.optimizers.AdamW())
        assert state.restore(tmp_path, load_config(config)).step > 0  # loads, whole


def worker(index: int, ports: list[int]) -> dict:
    """TF_CONFIG for worker ``index`` of a cluster on this machine's ``ports``."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    return {
        "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
    }


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for each in sockets:
        each.bind(("127.0.0.1", 0))
    ports = [each.getsockname()[1] for each in sockets]
    for each in sockets:
        each.close()
    return ports


def start_workers(command: list[str], ports: list[int]) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            command,
            env={**QUIET, **worker(index, ports)},
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for index in range(len(ports))
    ]


def two_workers(command: list[str]) -> list[tuple[str, str]]:
    """Run ``command`` as a cluster of two workers; their (stdout, stderr), once both are done."""
    workers = start_workers(command, free_ports(2))
    results = [each.communicate(timeout=300) for each in workers]
    assert [each.returncode for each in workers] == [0, 0], results[0][1][-3000:]
    return results


@pytest.mark.slow
def test_two_workers_with_tf_config_stop_together_resume_and_only_the_chief_reports(tmp_path):
    """One worker's SIGTERM stops both at the same step; started again, they resume, only the
    chief reports, and the run ends as an uninterrupted one of the same cluster, bit for bit."""
    run_dir = tmp_path / "runs"
    extra = ("--epochs", "2", "--set", "checkpoint_every_steps=4")
    command = train_command(run_dir, *extra)
    stopped = start_workers(command, free_ports(2))
    deadline = time.monotonic() + 180
    while saved_progress(run_dir) is None and stopped[0].poll() is None:
        assert time.monotonic() < deadline, "no resume state after three minutes"
        time.sleep(0.01)
    stopped[1].send_signal(signal.SIGTERM)  # one worker's node is reclaimed: both stop
    for each in stopped:
        each.communicate(timeout=120)
    assert [each.returncode for each in stopped] == [128 + signal.SIGTERM] * 2
    saved = saved_progress(run_dir)
    assert saved["step"] % STOP_CHECK_EVERY == 0  # where the workers agreed to stop

    (chief, _), (other, _) = two_workers(command)
    assert chief and other == ""  # only the chief reports
    assert sorted(path.name for path in run_dir.iterdir() if path.name != LOCK) == [
        "best.json",
        CHECKPOINT,
        "metrics.json",
{%- if cookiecutter.tracking %}
        "mlflow-run.json",
{%- endif %}
        "tensorboard",
    ]
    # One TensorBoard file per run of the chief (stopped, resumed); none of the other worker.
    assert len(list((run_dir / "tensorboard").iterdir())) == 2
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["replicas"] == 2
    assert metrics["resumed_from"] == {"epoch": saved["next_epoch"], "step": saved["step"] + 1}
    assert [entry["epoch"] for entry in metrics["history"]] == [1, 2]

    two_workers(train_command(tmp_path / "uninterrupted", *extra))
    assert_same_training(run_dir, tmp_path / "uninterrupted")
