"""The sampled traffic: input images and the class predicted for each, as JSON lines.

Bounded: when the log would pass its size it becomes samples.jsonl.1 (the older ones move
up, the oldest beyond KEPT_FILES is deleted), so it never holds more than (KEPT_FILES + 1)
times its size. Every process of serve --workers N appends to the same file under a lock
file, so lines never interleave and only one process rotates.
"""

import argparse
import base64
import fcntl
import json
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .flag_values import real

KEPT_FILES = 3
MIN_MB = 0.01  # about 10 KB; a line holds one image, so large images need a larger log
PATH = Path("monitoring/samples.jsonl")


class SampleLog:
    """Appends a share (rate) of the images with their predictions, within a size."""

    def __init__(self, path: Path, max_bytes: int, rate: float) -> None:
        if not 0 <= rate <= 1 or max_bytes < 1024:
            raise ValueError("--sample-rate must be from 0 to 1 and --sample-log-mb above 0.")
        self.path, self.max_bytes, self.rate = path, max_bytes, rate
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.with_name(path.name + ".lock").touch()
        except OSError as error:
            raise ValueError(
                f"Cannot write the sample log at {path} ({error.strerror}): "
                "choose a writable --sample-log."
            ) from None

    def write(self, pixels: np.ndarray, labels: list[str]) -> None:
        """Log each image with its predicted class, keeping about rate of them."""
        chosen = [index for index in range(len(labels)) if random.random() < self.rate]
        if not chosen:
            return
        now = round(time.time(), 3)
        data, room = b"", self.max_bytes  # whole lines only, never more than one file holds
        for index in chosen:
            line = (
                json.dumps(
                    {
                        "time": now,
                        "label": labels[index],
                        "shape": list(pixels.shape[1:]),
                        "pixels": _encoded(pixels[index]),
                    }
                )
                + "\n"
            ).encode()
            if len(data) + len(line) > room:
                break
            data += line
        with open(self.path.with_name(self.path.name + ".lock"), "rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _size(self.path) + len(data) > self.max_bytes:
                _rotate(self.path)
            with open(self.path, "ab") as log:
                log.write(data)


def _encoded(image: np.ndarray) -> str:
    return base64.b64encode(np.rint(np.clip(image, 0, 255)).astype(np.uint8).tobytes()).decode()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """serve's flags for the sample log."""
    parser.add_argument(
        "--sample-log",
        type=Path,
        default=PATH,
        help="where sampled images and predictions go (for monitor)",
    )
    parser.add_argument(
        "--sample-rate", type=real(0, 1), default=1.0, help="share of images logged, 0 to 1"
    )
    parser.add_argument(
        "--sample-log-mb",
        type=real(MIN_MB),
        default=10.0,
        help=f"size of each log file; {KEPT_FILES} older ones are kept",
    )


def from_arguments(args: argparse.Namespace) -> SampleLog:
    """The sample log serve's flags ask for (ValueError, one line, if it cannot be)."""
    return SampleLog(args.sample_log, int(args.sample_log_mb * 1024 * 1024), args.sample_rate)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _rotate(path: Path) -> None:
    for number in range(KEPT_FILES - 1, 0, -1):
        older = path.with_name(f"{path.name}.{number}")
        if older.exists():
            os.replace(older, path.with_name(f"{path.name}.{number + 1}"))
    if path.exists():
        os.replace(path, path.with_name(f"{path.name}.1"))


def files(path: Path) -> list[Path]:
    """The log's files that exist, oldest first."""
    rotated = [path.with_name(f"{path.name}.{number}") for number in range(KEPT_FILES, 0, -1)]
    return [file for file in (*rotated, path) if file.is_file()]


def read(path: Path) -> Iterator[tuple[np.ndarray, str]]:
    """Each logged image (raw 0-255 pixels) with its predicted class, oldest first.

    A last line cut short (serve writing it now, or a crash while it wrote) is skipped with a
    warning.

    Raises:
        ValueError: naming the file and line of a record that is not one of ours.
    """
    logged = files(path)
    for file in logged:
        with open(file, "rb") as lines:
            for number, line in enumerate(lines, start=1):
                try:
                    yield _record(line)
                except (ValueError, KeyError, TypeError) as error:
                    if file == logged[-1] and not line.endswith(b"\n"):
                        print(
                            f"warning: skipped {file}:{number}, a last line cut short (being "
                            "written?).",
                            file=sys.stderr,
                        )
                        continue
                    raise ValueError(
                        f"{file}:{number} is not a logged sample ({error}); "
                        "move that file away and run again."
                    ) from None


def _record(line: bytes) -> tuple[np.ndarray, str]:
    """One line's image and class; an empty image or one of another size is refused."""
    record = json.loads(line)  # a line that is not UTF-8 is a ValueError too
    raw = np.frombuffer(base64.b64decode(record["pixels"], validate=True), dtype=np.uint8)
    shape = [int(side) for side in record["shape"]]
    if raw.size == 0 or any(side < 1 for side in shape):
        raise ValueError("an empty image")
    return raw.reshape(shape).astype(np.float32), str(record["label"])
