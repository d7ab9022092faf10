"""argparse types for numeric flags: a value that is not a finite number in the flag's range is
a usage error (one line, exit 2) before anything runs, never a hang, a traceback or a default
taken silently. `inf` and `nan` parse as floats, so each flag states its range."""

import argparse
import math
from collections.abc import Callable


def whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """A whole number from low to high (no upper bound if high is None)."""
    span = f"from {low} to {high}" if high is not None else f"{low} or more"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a whole number: give {span}"
            ) from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text!r} is out of range: give {span}")
        return value

    return parse


def real(low: float, high: float = math.inf, *, above: bool = False) -> Callable[[str], float]:
    """A finite number from low (above it, if above) to high."""
    if math.isinf(high):
        span = f"above {low:g}" if above else f"{low:g} or more"
    else:
        span = f"above {low:g}, up to {high:g}" if above else f"from {low:g} to {high:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number: give {span}") from None
        if not (math.isfinite(value) and low <= value <= high) or (above and value == low):
            raise argparse.ArgumentTypeError(
                f"{text!r} is out of range: give a finite number, {span}"
            )
        return value

    return parse
