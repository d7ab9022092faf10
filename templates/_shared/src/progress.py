"""How far a training run has got, and what happens when it stops early.

Both checkpoint writers use ``atomic_path``: a file is written under a temporary name beside
its final one and renamed into place, so a crash at any moment leaves the previous file
whole. An interrupted run is continued by running the same command again; the settings of
the interrupted run are checked first, so that a run is never continued with other ones.
"""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import Config


@dataclass
class Progress:
    """Finished epochs: the next one to run, the history so far, the best validation score."""

    next_epoch: int = 1
    best_accuracy: float = -1.0
    train_seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)

    def add(self, epoch: int, record: dict[str, float]) -> bool:
        """Record a finished epoch (1-based); True if it is the best so far."""
        self.history.append({"epoch": epoch, **record})
        self.next_epoch = epoch + 1
        best = record["val_accuracy"] > self.best_accuracy
        self.best_accuracy = max(self.best_accuracy, record["val_accuracy"])
        return best


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training; its message says what was saved and how to go on."""


@contextmanager
def explain_interrupt(progress: Progress, speak: bool = True) -> Iterator[None]:
    """Turn Ctrl-C into one line that says what was saved and how to go on.

    Processes that do not ``speak`` (all but one of several) exit quietly with status 130.
    """
    try:
        yield
    except KeyboardInterrupt:
        if not speak:
            raise SystemExit(130) from None
        if progress.next_epoch == 1:
            raise Interrupted("no epoch had finished, so nothing was saved; "
                              "run the same command again to start over.") from None
        raise Interrupted(f"the run is saved after epoch {progress.next_epoch - 1}; run the same "
                          f"command again to resume from epoch {progress.next_epoch}, "
                          "or add --fresh to start over.") from None


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary name beside ``path`` to write to; renamed onto ``path`` if all went well."""
    # The suffix is kept: Keras chooses the file format by it.
    temporary = path.with_name(f".{os.getpid()}.{path.name}")
    try:
        yield temporary
        with temporary.open("rb") as written:
            os.fsync(written.fileno())  # on disk before the rename makes it the checkpoint
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_json(path: Path, value: object) -> None:
    """Write JSON atomically (see ``atomic_path``)."""
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(value, indent=2) + "\n")


def settings(config: Config) -> dict[str, Any]:
    """The settings as saved beside a resume state (through JSON: tuples become lists)."""
    return json.loads(json.dumps(asdict(config)))


def check_same_settings(saved: dict[str, Any], config: Config, where: Path) -> None:
    """Refuse to continue an interrupted run with other settings.

    Raises:
        ValueError: naming the settings that differ, and both ways on.
    """
    now = settings(config)
    if changed := [f"{name}: {saved.get(name)!r} then, {value!r} now"
                   for name, value in now.items() if saved.get(name) != value]:
        raise ValueError(f"{where} holds an unfinished run with other settings "
                         f"({', '.join(changed)}). Run with the same settings to resume it, "
                         "or add --fresh to start over.")
