"""Where and how training runs (tf.distribute).

``python -m {{ cookiecutter.package_name }}.train`` uses TensorFlow's default strategy,
or a MirroredStrategy (one replica per GPU, gradients all-reduced) when it sees several GPUs.
With a TF_CONFIG naming several tasks, each machine runs the same command as one worker of a
MultiWorkerMirroredStrategy. The model and its optimizer are built inside the strategy's
scope; train.py's loop runs each step through ``strategy.run`` (Keras 3's ``fit`` fails under
MultiWorkerMirroredStrategy, keras-team/keras#20585). Only the chief prints and keeps files:
the other workers write theirs to a temporary folder, deleted at the end, as TensorFlow's
multi-worker guide does.
"""

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .quiet import tf


@dataclass(frozen=True)
class Process:
    """Where this process trains: its device, and the strategy that spreads the work."""

    device: str
    strategy: tf.distribute.Strategy
    main: bool = True  # the chief: it prints, checkpoints and writes metrics

    def print(self, *values: object) -> None:
        if self.main:
            print(*values, flush=True)


def start(device_name: str) -> Process:
    """The strategy TF_CONFIG and the visible GPUs call for (create it before other work)."""
    device = choose_device(device_name)  # first: it may hide the GPUs
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    cluster = config.get("cluster", {})
    if sum(len(tasks) for tasks in cluster.values()) > 1:
        task = config.get("task", {})
        # The chief is the task of that name, or else worker 0 (as TensorFlow decides).
        chief = task.get("type") == "chief" or (
            "chief" not in cluster and task.get("type") == "worker" and task.get("index") == 0
        )
        return Process(device, tf.distribute.MultiWorkerMirroredStrategy(), chief)
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return Process(device, tf.distribute.MirroredStrategy())
    return Process(device, tf.distribute.get_strategy())


@contextmanager
def own_folder(run_dir: Path, process: Process) -> Iterator[Path]:
    """Where this process writes: run_dir for the chief, a temporary folder for the others
    (every worker must save, since saving is a collective operation; only the chief keeps)."""
    if process.main:
        yield run_dir
        return
    folder = Path(tempfile.mkdtemp(prefix="worker-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def set_threads(threads: int) -> int:
    """0 uses every core, fastest on a machine of one's own (1.5x one thread, measured on 2
    cores). Where other work keeps the cores busy, 1 is safer: threads that wait for a core
    made batch-4 latency 20x worse on a shared 2-core machine."""
    count = threads or os.cpu_count() or 1
    current = tf.config.threading.get_intra_op_parallelism_threads()
    if current != count:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(count)
        except RuntimeError:  # TensorFlow fixes its thread pool once it has started
            print(
                f"note: TensorFlow is already running with {current or 'all'} CPU threads "
                "in this process; keeping them."
            )
            return current
    return count


def choose_device(name: str) -> str:
    """``auto`` lets TensorFlow place work on a GPU if it sees one; ``cpu`` hides GPUs."""
    gpus = tf.config.list_physical_devices("GPU")
    if name == "cpu":
        tf.config.set_visible_devices([], "GPU")
        return "cpu"
    if name not in ("auto", "gpu"):
        raise ValueError(f"Device '{name}' is unknown; use 'auto', 'cpu' or 'gpu'.")
    if name == "gpu" and not gpus:
        raise ValueError("No GPU is visible to TensorFlow here; use 'auto' or 'cpu'.")
    return f"gpu ({gpus[0].name})" if gpus else "cpu"


# Steps between the workers' agreements on a stop signal: one all-reduce of a number on the
# CPU (no wait for the device), so that every worker stops after the same step.
STOP_CHECK_EVERY = 10


def stop_check_every(process: Process) -> int:
    """A process alone stops after the very step the signal came in."""
    return 1 if process.strategy.num_replicas_in_sync == 1 else STOP_CHECK_EVERY


def agree(number: int, process: Process) -> int:
    """The stop signal any worker got (its number; 0: none), the same in every worker."""
    strategy = process.strategy
    if strategy.num_replicas_in_sync == 1:
        return number
    # Collectives sum or average, so each signal counts in a slot of its own; the highest wins.
    counts = summed_over_replicas(strategy, tf.one_hot(number, SIGNAL_SLOTS))
    return max((slot for slot, count in enumerate(counts.numpy()) if count > 0), default=0)


SIGNAL_SLOTS = 65  # 0 (none) and every signal number up to SIGRTMAX


@tf.function
def summed_over_replicas(strategy: tf.distribute.Strategy, values: tf.Tensor) -> tf.Tensor:
    """The sum of ``values`` over every replica of every worker."""
    return strategy.reduce("SUM", strategy.run(tf.identity, args=(values,)), axis=None)
