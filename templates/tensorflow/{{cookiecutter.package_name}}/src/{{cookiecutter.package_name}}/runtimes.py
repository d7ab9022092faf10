{%- set litert = cookiecutter.mobile or cookiecutter.edge -%}
{%- set any_target = cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server -%}
{% if any_target -%}
"""Run an exported model in the runtime its target really uses.

Every runner takes float32 raw pixels (N, H, W, C) and returns logits (N, classes)
as a NumPy array, so export verification and predict treat all formats alike.
"""
{%- else -%}
"""Load the trained model for predict: the checkpoint, in the framework that trained it.

A runner takes float32 raw pixels (N, H, W, C) and returns logits (N, classes) as a NumPy array.
"""
{%- endif %}

from collections.abc import Callable
{%- if cookiecutter.server %}
from contextlib import suppress
{%- endif %}
from pathlib import Path

import numpy as np

Runner = Callable[[np.ndarray], np.ndarray]
{%- if cookiecutter.server %}

# What the HTTP service (serve.py) loads, and the Triton platform that runs it.
SERVER_FORMAT = "saved_model"
SERVER_PLATFORM = "tensorflow_savedmodel"
{%- endif %}
{%- if any_target %}


def saved_model(path: Path) -> Runner:
    """The SavedModel's serving signature, as TF Serving calls it (input key ``pixels``)."""
    from .quiet import tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    return lambda pixels: serve(pixels=tf.constant(pixels))["output_0"].numpy()
{%- endif %}
{%- if litert %}


def litert(path: Path) -> Runner:
    """The LiteRT interpreter (ai-edge-litert), as on Android, iOS or an edge device."""
    from ai_edge_litert.interpreter import Interpreter

    from .quiet import native_noise_dropped

    interpreter = Interpreter(model_path=str(path))
    source = interpreter.get_input_details()[0]
    allocated: list[int] = []
{%- if cookiecutter.web %}
    if source["shape_signature"][0] != -1:  # a fixed batch (the web page's model): one at a time
        interpreter.allocate_tensors()
        return lambda pixels: np.concatenate([_invoke(interpreter, one[None]) for one in pixels])
{%- endif %}

    def run(pixels: np.ndarray) -> np.ndarray:
        if list(pixels.shape) != allocated:  # a new batch size: resize, then allocate
            with native_noise_dropped():  # XNNPACK announces itself here
                interpreter.resize_tensor_input(source["index"], list(pixels.shape))
                interpreter.allocate_tensors()
            allocated[:] = pixels.shape
        return _invoke(interpreter, pixels)

    return run


def _invoke(interpreter, pixels: np.ndarray) -> np.ndarray:  # interpreter: a LiteRT Interpreter
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.set_tensor(source["index"], _quantize(pixels, source))
    interpreter.invoke()
    return _dequantize(interpreter.get_tensor(target["index"]), target)


def _quantize(values: np.ndarray, detail: dict) -> np.ndarray:
    """Float input to an integer model's input type, with the model's scale and zero point."""
    if detail["dtype"] == np.float32:
        return values
    scale, zero_point = detail["quantization"]
    limits = np.iinfo(detail["dtype"])
    quantized = np.clip(np.round(values / scale + zero_point), limits.min, limits.max)
    return quantized.astype(detail["dtype"])


def _dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return values
    scale, zero_point = detail["quantization"]
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)
{%- endif %}
{%- if cookiecutter.web %}


def litert_js(path: Path) -> Runner:
    """LiteRT.js (WebAssembly, XNNPACK) in Node.js: the runtime the browser page loads."""
    from .in_node import node_runner

    return node_runner(path, "@litertjs/core")
{%- endif %}


def checkpoint(path: Path) -> Runner:
    """The trained Keras model itself, from the training checkpoint."""
    from .train import load_checkpoint

    model, _ = load_checkpoint(path)
    return lambda pixels: model(pixels, training=False).numpy()


{%- if cookiecutter.server %}


def server_runner(path: Path, threads: int) -> Runner:
    """The service's model; its runtime uses ``threads`` threads per call (0: one per core)."""
    from .quiet import tf

    with suppress(RuntimeError):  # only before TensorFlow starts; else it keeps its own
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    return saved_model(path)
{%- endif %}


def load_runner(path: Path) -> Runner:
    """Pick the runtime for a model file or folder."""
{%- if any_target %}
    if (path / "saved_model.pb").is_file():
        return saved_model(path)
{%- endif %}
    by_suffix = {{ '{' }}{% if litert %}".tflite": litert, {% elif cookiecutter.web %}".tflite": litert_js, {% endif %}".keras": checkpoint}
    if not path.exists():
        raise ValueError(f"No model at {path}: train{% if any_target %} and export{% endif %} first.")
    if path.suffix not in by_suffix:
{%- if any_target and (litert or cookiecutter.web) %}
        raise ValueError(
            f"Cannot run {path}: expected a SavedModel folder, a .tflite or a .keras file."
        )
{%- else %}
        raise ValueError(f"Cannot run {path}: expected {% if any_target %}a SavedModel folder, or {% endif %}a .keras file.")
{%- endif %}
    return by_suffix[path.suffix](path)
