"""Where and how training runs: one process, or one worker of several (tf.distribute).

``python -m {{ cookiecutter.package_name }}.train`` is one process: TensorFlow's default strategy,
or a MirroredStrategy when it sees several GPUs. With TF_CONFIG set (see the README and
deploy/slurm/train.sbatch), each worker joins a MultiWorkerMirroredStrategy; only the chief
(rank 0) prints and writes files. The model and its optimizer are built inside the
strategy's scope.
"""

import json
import os
from dataclasses import dataclass

import keras
import tensorflow as tf

PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


@dataclass(frozen=True)
class Process:
    """This process's place among those training together."""

    device: str
    strategy: tf.distribute.Strategy
    rank: int = 0
    world_size: int = 1

    @property
    def main(self) -> bool:
        """Rank 0 (the chief) prints, logs, checkpoints and writes metrics."""
        return self.rank == 0

    def print(self, *values: object) -> None:
        if self.main:
            print(*values, flush=True)


def start(device_name: str) -> Process:
    """The strategy TF_CONFIG and the visible GPUs call for (create it before other TF work)."""
    device = choose_device(device_name)
    if "TF_CONFIG" not in os.environ:
        if len(tf.config.list_logical_devices("GPU")) > 1:
            return Process(device, tf.distribute.MirroredStrategy())
        return Process(device, tf.distribute.get_strategy())
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    cluster = json.loads(os.environ["TF_CONFIG"])["cluster"]
    task = strategy.cluster_resolver
    # The chief, if the cluster names one, is rank 0; otherwise worker 0 is.
    rank = task.task_id + (1 if task.task_type == "worker" and "chief" in cluster else 0)
    return Process(device, strategy, rank, sum(len(hosts) for hosts in cluster.values()))


def stop() -> None:
    """Nothing to release: TensorFlow tears the cluster down with the process."""


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


def mixed_precision(precision: str) -> None:
    """Keras' mixed precision policy (float16 also scales the loss, inside model.compile)."""
    if precision not in PRECISIONS:
        raise ValueError(f"Setting 'precision' must be one of {', '.join(PRECISIONS)}, "
                         f"got {precision!r}.")
    keras.mixed_precision.set_global_policy(PRECISIONS[precision])


def shard(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Each worker takes its share of every batch (the data is in memory, not in files)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
