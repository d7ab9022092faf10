"""Where and how training runs (tf.distribute).

``python -m {{ cookiecutter.package_name }}.train`` uses TensorFlow's default strategy, or a
MirroredStrategy (one replica per GPU, gradients all-reduced) when it sees several GPUs. The
model and its optimizer are built inside the strategy's scope.

Several machines (MultiWorkerMirroredStrategy, a TF_CONFIG with several tasks) are refused
for now: Keras 3's ``fit`` fails with it (keras-team/keras#20585, open); see the README.
"""

import json
import os
from dataclasses import dataclass

from .quiet import keras, tf

PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


@dataclass(frozen=True)
class Process:
    """Where this process trains: its device, and the strategy that spreads the work."""

    device: str
    strategy: tf.distribute.Strategy


def start(device_name: str) -> Process:
    """The strategy the visible GPUs call for (create it before other TensorFlow work)."""
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    if sum(len(tasks) for tasks in cluster.values()) > 1:
        raise ValueError("TF_CONFIG names several tasks, but Keras 3's fit cannot train across "
                         "machines yet (MultiWorkerMirroredStrategy, keras-team/keras#20585). "
                         "Train on one machine (all its GPUs), or use the PyTorch starter.")
    device = choose_device(device_name)
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return Process(device, tf.distribute.MirroredStrategy())
    return Process(device, tf.distribute.get_strategy())


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
