{%- set litert = cookiecutter.mobile or cookiecutter.edge or cookiecutter.web -%}
"""Keep known, harmless noise out of the way, and nothing else.

Each filter below names the exact message it hides and why; any other warning
or log line still reaches you.

TensorFlow prints its banners while it is imported, so the modules here import
TensorFlow and Keras from this one (`from .quiet import keras, tf`): whichever
comes first starts TensorFlow with them dropped. The package's __init__ imports
neither, so the HTTP service's supervisor and web.py never load TensorFlow.
"""

import contextlib
import ctypes
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator
from typing import TypeVar

__all__ = ["keras", "native_noise_dropped", "quiet_iter", "tame_known_noise", "tf"]

T = TypeVar("T")

{% if litert -%}
# Lines TensorFlow's and LiteRT's native code prints on start-up and while
# converting or loading a model: INFO lines (I0000 ..., such as "oneDNN custom
# operations are on" or "Reading SavedModel from ..."), two settings the converter
# ignores on purpose, and the notice that XNNPACK is used. None of them needs
# action; any other warning or error line is kept.
{%- else -%}
# Lines TensorFlow's native code prints on start-up: INFO lines (I0000 ..., such as
# "oneDNN custom operations are on"{% if cookiecutter.server %} or, while loading a model, "Reading SavedModel from ..."{% endif %}).
# None of them needs action; any other warning or error line is kept.
{%- endif %}
_NATIVE_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|I\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] "
    r"|To enable the following instructions: .* rebuild TensorFlow"
{%- if litert %}
    r"|W0000 .*tf_tfl_flatbuffer_helpers\.cc:\d+\] Ignored (output_format|drop_control_dependency)"
    r"|W0000 .*flatbuffer_export\.cc:\d+\] Skipping runtime version metadata"
    r"|fully_quantize: \d+, inference_type: "
    r"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.)"
{%- else %}
    r")"
{%- endif %}
)


def tame_known_noise() -> None:
    """Import TensorFlow with its start-up banners dropped (call before anything else does)."""
    with native_noise_dropped():
        import tensorflow  # noqa: F401


def quiet_iter(items: Iterable[T]) -> Iterator[T]:
    """``iter(items)`` with the native lines above dropped: TensorFlow optimizes a tf.data
    pipeline (and prints about it) when its iterator is made, once an epoch."""
    with native_noise_dropped():
        return iter(items)


def _flush_native_buffers() -> None:
    """Native code buffers its output; flush it while it still goes to the filter."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def native_noise_dropped() -> Iterator[None]:
    """Drop the native lines above from stdout and stderr; keep every other line."""
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as out_sink, tempfile.TemporaryFile() as err_sink:
        sinks = {1: out_sink, 2: err_sink}
        saved = {fd: os.dup(fd) for fd in sinks}
        for fd, sink in sinks.items():
            os.dup2(sink.fileno(), fd)
        try:
            yield
        finally:
            _flush_native_buffers()
            for fd, sink in sinks.items():
                os.dup2(saved[fd], fd)
                os.close(saved[fd])
                sink.seek(0)
                stream = sys.stdout if fd == 1 else sys.stderr
                for line in sink.read().decode(errors="replace").splitlines():
                    if not _NATIVE_NOISE.match(line):
                        print(line, file=stream)


with native_noise_dropped():
    import keras
    import tensorflow as tf
