{%- set onnx = cookiecutter.server or cookiecutter.web or cookiecutter.edge -%}
{%- set executorch = cookiecutter.mobile or cookiecutter.edge -%}
{%- set any_target = cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server -%}
"""Keep known, harmless noise out of the way, and nothing else.{% if any_target %}

Each filter below names the exact message it hides and why; any other warning
or log line still reaches you.
{% endif %}"""

{% if executorch -%}
import contextlib
{% endif -%}
{% if any_target -%}
import logging
{% endif -%}
import os
{%- if any_target %}
import re
{%- endif %}
{%- if executorch %}
import sys
import tempfile
{%- endif %}
{%- if any_target %}
import warnings
{%- endif %}
{%- if executorch %}
from collections.abc import Iterator
{%- endif %}
{%- if any_target %}

# (logger, message pattern, why it is noise)
_LOG_NOISE = [
{%- if onnx %}
    (
        "torch.onnx._internal.exporter._registration",
        r"torchvision is not installed",
        "the ONNX exporter lists torchvision ops it skips; this model uses none",
    ),
{%- endif %}
{%- if executorch %}
    (
        "torchao",
        r"Failed to load .*_C_(mxfp8|cutlass)",
        "torchao's GPU kernels, absent from CPU-only installs",
    ),
    (
        "torch.utils._pytree",
        r"is an Enum subclass and is now natively supported",
        "a deprecation inside torchao's import, not in this project's code",
    ),
{%- endif %}
{%- if any_target %}
    (
        "transformers.modeling_utils",
        r"`loss_type=None` was set in the config but it is unrecognized",
        "an exporter reading every property of transformers' MobileNet; it is trained with "
        "cross-entropy in train.py, never with this loss",
    ),
{%- endif %}
]

# (category, message pattern, why it is noise)
_WARNING_NOISE = [
{%- if executorch %}
    (
        FutureWarning,
        r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        "raised inside ExecuTorch's lowering, not in this project's code",
    ),
    (
        UserWarning,
        r"TF32 acceleration on top of oneDNN",
        "printed when ExecuTorch lowering switches oneDNN off, as it must",
    ),
{%- endif %}
{%- if any_target %}
    (
        FutureWarning,
        r"`is_gradient_checkpointing` is deprecated",
        "an exporter reading every property of transformers' MobileNet, not this project's code",
    ),
{%- endif %}
]

{%- if executorch %}

# Lines ExecuTorch's native runtime prints while probing the CPU on start-up.
_NATIVE_NOISE = re.compile(r"^\[cpuinfo_utils\.cpp:\d+\]")
{%- endif %}


class _Drop(logging.Filter):
    def __init__(self, pattern: str) -> None:
        super().__init__()
        self.pattern = re.compile(pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.search(record.getMessage())
{%- endif %}


def tame_known_noise() -> None:
    """{% if any_target %}Install the filters above; call{% else %}Quiet TensorFlow's start-up lines; call it{% endif %} once at the start of a command."""
    # TensorBoard and the ONNX exporter import TensorFlow when it is installed, and it
    # announces itself with INFO lines; level 1 hides INFO and keeps its warnings.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
{%- if any_target %}
    for logger, pattern, _why in _LOG_NOISE:
        logging.getLogger(logger).addFilter(_Drop(pattern))
    for category, pattern, _why in _WARNING_NOISE:
        warnings.filterwarnings("ignore", message=pattern, category=category)
{%- endif %}
{%- if executorch %}


@contextlib.contextmanager
def native_noise_dropped() -> Iterator[None]:
    """Drop ExecuTorch's CPU-probe lines from the process's stderr; keep every other line."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            for line in sink.read().decode(errors="replace").splitlines():
                if not _NATIVE_NOISE.match(line):
                    print(line, file=sys.stderr)
{%- endif %}
