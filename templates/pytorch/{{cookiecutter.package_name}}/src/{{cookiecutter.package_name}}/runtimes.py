{%- set onnx = cookiecutter.server or cookiecutter.web or cookiecutter.edge -%}
{%- set executorch = cookiecutter.mobile or cookiecutter.edge -%}
{%- set any_target = cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server -%}
{% if any_target -%}
"""Run an exported model in the runtime its target really uses.

Every runner takes float32 raw pixels (N, 1, H, W) and returns logits (N, classes)
as a NumPy array, so export verification and predict treat all formats alike. Each
runtime is imported only when its format is loaded: the service, on ONNX Runtime, never
imports torch.
"""
{%- else -%}
"""Load the trained model for predict: the checkpoint, in the framework that trained it.

A runner takes float32 raw pixels (N, 1, H, W) and returns logits (N, classes) as a NumPy array.
"""
{%- endif %}

from collections.abc import Callable
from pathlib import Path

import numpy as np
{%- if executorch %}

from .quiet import native_noise_dropped
{%- endif %}

Runner = Callable[[np.ndarray], np.ndarray]
{%- if cookiecutter.server %}

# What the HTTP service (serve.py) loads, and the Triton platform that runs it.
SERVER_FORMAT = "onnx"
SERVER_PLATFORM = "onnxruntime_onnx"
{%- endif %}
{%- if any_target %}


def torchscript(path: Path) -> Runner:
    """TorchScript with torch.jit.load: what libtorch (C++) servers and older apps load."""
    import torch

    module = torch.jit.load(str(path), map_location="cpu")
    return lambda pixels: module(torch.from_numpy(pixels)).detach().numpy()


def exported_program(path: Path) -> Runner:
    """A torch.export program (.pt2), reloaded with torch.export.load."""
    import torch

    module = torch.export.load(str(path)).module()
    return lambda pixels: module(torch.from_numpy(pixels)).detach().numpy()
{%- endif %}
{%- if onnx %}


def onnxruntime(path: Path, threads: int = 0) -> Runner:
    """ONNX Runtime on the CPU, as on a server or an edge device (threads 0: one per core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda pixels: session.run(None, {name: pixels})[0]
{%- endif %}
{%- if executorch %}


def executorch(path: Path) -> Runner:
    """ExecuTorch's runtime (XNNPACK), as in an Android or iOS app."""
    import torch

    with native_noise_dropped():
        from executorch.runtime import Runtime

        method = Runtime.get().load_program(str(path)).load_method("forward")
    started = False

    def run(pixels: np.ndarray) -> np.ndarray:
        nonlocal started
        if not started:  # the runtime probes the CPU, noisily, on its first call
            started = True
            with native_noise_dropped():
                return method.execute([torch.from_numpy(pixels)])[0].numpy()
        return method.execute([torch.from_numpy(pixels)])[0].numpy()

    return run
{%- endif %}
{%- if cookiecutter.web %}


def onnxruntime_web(path: Path) -> Runner:
    """onnxruntime-web (WASM) in Node.js: the same engine the browser page uses."""
    from .in_node import node_runner

    return node_runner(path, "onnxruntime-web")
{%- endif %}


def checkpoint(path: Path) -> Runner:
    """The trained PyTorch model itself (eager), from a training checkpoint."""
    import torch

    from .train import load_checkpoint

    model, _ = load_checkpoint(path)
    return lambda pixels: model(torch.from_numpy(pixels)).detach().numpy()


# Which runner loads a file, by its suffix (predict uses these).
BY_SUFFIX: dict[str, Callable[[Path], Runner]] = {
{%- if any_target %}
    ".pt": torchscript,
    ".pt2": exported_program,
{%- endif %}
{%- if onnx %}
    ".onnx": onnxruntime,
{%- endif %}
{%- if executorch %}
    ".pte": executorch,
{%- endif %}
    ".ckpt": checkpoint,
}


{%- if cookiecutter.server %}


def server_runner(path: Path, threads: int) -> Runner:
    """The service's model; its runtime uses ``threads`` threads per call (0: one per core)."""
    return onnxruntime(path, threads)
{%- endif %}


def load_runner(path: Path) -> Runner:
    """Pick the runtime for a model file from its suffix."""
    if not path.is_file():
        raise ValueError(f"No model file at {path}: train{% if any_target %} and export{% endif %} first.")
    if path.suffix not in BY_SUFFIX:
        raise ValueError(f"Cannot run {path}: expected one of {', '.join(BY_SUFFIX)}.")
    return BY_SUFFIX[path.suffix](path)
