"""Mixed precision: the ``precision`` setting (float32, bfloat16 or float16).

Keras' mixed precision policy computes in the lower precision and keeps the weights in
float32; float16 also scales the loss, so that small gradients do not round to zero
(train.make_optimizer wraps the optimizer in a LossScaleOptimizer).
"""

from .quiet import keras

PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def mixed_precision(precision: str) -> None:
    """Set Keras' mixed precision policy for the models built from now on."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"Setting 'precision' must be one of {', '.join(PRECISIONS)}, got {precision!r}."
        )
    keras.mixed_precision.set_global_policy(PRECISIONS[precision])
