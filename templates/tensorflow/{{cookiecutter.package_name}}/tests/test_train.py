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
from {{ cookiecutter.package_name }}.data import load_splits, make_dataset
from {{ cookiecutter.package_name }}.model import build_model
from {{ cookiecutter.package_name }}.train import (
    CHECKPOINT,
    evaluate,
    main,
    make_train_step,
    train,
    train_one_epoch,
)

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
    keras.utils.set_random_seed(0)
    data = make_dataset(load_splits(default_config.data)["train"], 64, shuffle=True, seed=0)
    model = build_model()
    step = make_train_step(model, keras.optimizers.AdamW(3e-3), tf.distribute.get_strategy(),
                           jit_compile=False)
    before, _ = evaluate(model, data)
    train_one_epoch(step, data)
    after, _ = evaluate(model, data)
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
{%- if cookiecutter.tracking %}
    # The MLflow run starts, and is refused, before training prints its threads.
{%- else %}
    assert f"({os.cpu_count()} CPU thread(s))" in result.stdout, result.stdout
{%- endif %}
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    where = {{ '"MLflow store"' if cookiecutter.tracking else '"run_dir"' }}  # the first to write
    assert len(errors) == 1 and where in errors[0] and "free space" in errors[0]


def test_bad_config_is_an_error_message_not_a_traceback(capsys):
    assert main(["--set", "epochs=-1", "--dry-run"]) == 2
    assert "epochs" in capsys.readouterr().err


@pytest.mark.skipif(not tf.config.list_physical_devices("GPU"), reason="needs a GPU")
def test_auto_device_trains_on_the_gpu(smoke_config):
    result = train(with_overrides(smoke_config, device="auto"), dry_run=True)
    assert result["device"].startswith("gpu")


EPOCHS = 8  # under a second each: time to stop a run after its first epoch


def saved_progress(run_dir: Path) -> dict | None:
    """The progress an interrupted run would resume from, once its resume state exists."""
    latest = tf.train.latest_checkpoint(run_dir / checkpoint.RESUME)
    if latest is None:
        return None
    try:
        progress = tf.train.load_checkpoint(latest).get_tensor(
            "progress/.ATTRIBUTES/VARIABLE_VALUE")
    except (ValueError, tf.errors.NotFoundError):  # replaced while reading
        return None
    return json.loads(progress)


def load_best(path: Path) -> keras.Model:
    return keras.models.load_model(path)


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
from {PACKAGE}.model import build_model
model = build_model()
if sys.argv[2] == "crash-before-rename":  # killed between the temporary file and the rename
    os.replace = lambda *paths: os.kill(os.getpid(), 9)
print("ready", flush=True)
while True:
    checkpoint.save(model, pathlib.Path(sys.argv[1]))
"""


def weights_in(path: Path) -> list:
    return [variable.numpy() for variable in keras.models.load_model(path).weights]


def save_weights(path: Path) -> list:
    checkpoint.save(build_model(), path)
    return weights_in(path)


@pytest.mark.slow
def test_a_kill_while_writing_never_leaves_a_half_written_checkpoint(tmp_path):
    path = tmp_path / "saved.keras"
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
    return {"TF_CONFIG": json.dumps({"cluster": cluster,
                                    "task": {"type": "worker", "index": index}})}


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for each in sockets:
        each.bind(("127.0.0.1", 0))
    ports = [each.getsockname()[1] for each in sockets]
    for each in sockets:
        each.close()
    return ports


@pytest.mark.slow
def test_two_workers_with_tf_config_train_together_and_only_the_chief_reports(tmp_path):
    run_dir = tmp_path / "runs"
    ports = free_ports(2)
    command = train_command(run_dir, "--epochs", "2")
    workers = [subprocess.Popen(command, env={**QUIET, **worker(index, ports)}, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for index in range(2)]
    results = [each.communicate(timeout=300) for each in workers]
    assert [each.returncode for each in workers] == [0, 0], results[0][1][-3000:]
    (chief, _), (other, _) = results
    assert chief.count("test accuracy") == 1 and "2 replicas" in chief
    assert other == ""
    assert sorted(path.name for path in run_dir.iterdir()) == [
        "best.json", CHECKPOINT, "metrics.json",{{ ' "mlflow-run.json",' if cookiecutter.tracking else "" }} "tensorboard"]
    assert len(list((run_dir / "tensorboard").iterdir())) == 1
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["replicas"] == 2
    assert [entry["epoch"] for entry in metrics["history"]] == [1, 2]
    assert metrics["history"][-1]["train_loss"] < 0.5 * metrics["history"][0]["train_loss"]
