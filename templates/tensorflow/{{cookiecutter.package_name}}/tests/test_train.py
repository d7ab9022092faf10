import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import pytest
import tensorflow as tf

from {{ cookiecutter.package_name }} import checkpoint
from {{ cookiecutter.package_name }}.config import with_overrides
from {{ cookiecutter.package_name }}.data import load_splits, make_dataset
from {{ cookiecutter.package_name }}.model import build_model
from {{ cookiecutter.package_name }}.train import CHECKPOINT, main, train

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
def test_real_threads_are_reported_and_a_disk_that_refuses_writes_is_one_line(tmp_path):
    """Training in a process where TensorFlow already runs reports the threads it really
    uses (never 0); then a file-size limit makes the OS refuse a write, as a full disk does."""
    import resource

    def refuse_files_over_16_kb() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (16_384, 16_384))

    command = [sys.executable, "-c", STARTED_THEN_TRAIN,
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


def saved_epoch(run_dir: Path) -> int | None:
    """The epoch an interrupted run would resume from, once its resume state exists."""
    # BackupAndRestore writes this file last, after the weights.
    path = run_dir / checkpoint.RESUME / "training_metadata.json"
    return json.loads(path.read_text())["epoch"] + 1 if path.is_file() else None


def load_best(path: Path) -> keras.Model:
    return keras.models.load_model(path)


def train_command(run_dir: Path, *extra: str) -> list[str]:
    """python -m <package>.train on the smoke config, writing into run_dir."""
    return [sys.executable, "-m", f"{PACKAGE}.train", "--config", str(ROOT / "configs/smoke.yaml"),
            "--set", f"data={ROOT / 'data/digits.npz'}", "--set", f"run_dir={run_dir}",
            "--set", "threads=1", "--epochs", str(EPOCHS), *extra]


def start_and_stop_after_first_epoch(command: list[str], run_dir: Path,
                                     how: signal.Signals) -> subprocess.CompletedProcess:
    process = subprocess.Popen(command, env=QUIET, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while saved_epoch(run_dir) is None and process.poll() is None:
        assert time.monotonic() < deadline, "no resume state after two minutes"
        time.sleep(0.01)
    process.send_signal(how)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.mark.slow
def test_a_killed_run_resumes_with_every_epoch_once(tmp_path):
    run_dir = tmp_path / "runs"
    command = train_command(run_dir)
    killed = start_and_stop_after_first_epoch(command, run_dir, signal.SIGKILL)
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
def test_ctrl_c_says_how_to_resume_and_fresh_starts_over(tmp_path):
    run_dir = tmp_path / "runs"
    stopped = start_and_stop_after_first_epoch(train_command(run_dir), run_dir, signal.SIGINT)
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


@pytest.mark.slow
def test_tf_config_with_several_workers_is_refused_in_one_line(tmp_path):
    # Keras 3's fit fails with MultiWorkerMirroredStrategy (keras-team/keras#20585): until it
    # is fixed, two workers are refused with a message, not a traceback.
    worker = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
              "task": {"type": "worker", "index": 0}}
    result = subprocess.run(train_command(tmp_path / "runs"), capture_output=True, text=True,
                            env={**QUIET, "TF_CONFIG": json.dumps(worker)}, timeout=300)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "keras-team/keras#20585" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "runs").exists()

    alone = {"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}}
    one_worker = subprocess.run(train_command(tmp_path / "runs", "--dry-run"), text=True,
                                capture_output=True, env={**QUIET, "TF_CONFIG": json.dumps(alone)},
                                timeout=300)  # what a one-worker TFJob sets
    assert one_worker.returncode == 0, one_worker.stderr[-3000:]
