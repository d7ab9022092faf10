"""Mixed precision: the ``precision`` setting (float32, bfloat16 or float16).

The forward pass runs under autocast; float16 also scales the loss, so that small gradients
do not round to zero (a GradScaler, which does nothing for the other precisions).
"""

import contextlib

import torch

PRECISIONS = ("float32", "bfloat16", "float16")
# An autocast context for the forward pass, and a gradient scaler (active for float16).
Precision = tuple[contextlib.AbstractContextManager, torch.amp.GradScaler]


def mixed_precision(precision: str, device: torch.device) -> Precision:
    """An autocast context for the forward pass and a gradient scaler (active for float16)."""
    if precision not in PRECISIONS:
        raise ValueError(
            f"Setting 'precision' must be one of {', '.join(PRECISIONS)}, got {precision!r}."
        )
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "float16")
    if precision == "float32":
        return contextlib.nullcontext(), scaler
    return torch.autocast(device.type, dtype=getattr(torch, precision)), scaler
