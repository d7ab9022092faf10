"""How far a training run has got, and what happens when it stops early.

Both checkpoint writers use ``atomic_path``: a file is written under a temporary name beside
its final one and renamed into place, so a crash at any moment leaves the previous file
whole. An interrupted run is continued by running the same command again; the settings of
the interrupted run are checked first, so that a run is never continued with other ones.
"""

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import Config


@dataclass
class Progress:
    """Finished epochs: the next one to run, the history so far, the best validation score;
    and the steps of the next epoch already taken (with their summed loss and images: while
    training, tensors on the device, read only when the epoch is logged or the state saved)."""

    next_epoch: int = 1
    best_accuracy: float = -1.0
    train_seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    step: int = 0
    step_loss: float = 0.0
    step_images: float = 0.0
    saved: str = ""  # the position the resume state on disk holds ("" if none)
    resumed_from: dict[str, int] | None = None  # where this run resumed (metrics.json), if it did

    def __post_init__(self) -> None:
        if self.saved:  # read back from a resume state: this run goes on from its position
            self.resumed_from = {"epoch": self.next_epoch, "step": self.step + 1}

    def add(self, epoch: int, record: dict[str, float]) -> bool:
        """Record a finished epoch (1-based); True if it is the best so far."""
        self.history.append({"epoch": epoch, **record})
        self.next_epoch = epoch + 1
        self.step, self.step_loss, self.step_images = 0, 0.0, 0.0
        best = record["val_accuracy"] > self.best_accuracy
        self.best_accuracy = max(self.best_accuracy, record["val_accuracy"])
        return best

    @property
    def epoch_loss(self) -> float:
        """The mean training loss of the current epoch's steps, those before a resume too."""
        return float(self.step_loss) / max(float(self.step_images), 1.0)

    def counter(self, every: int,
                save: Callable[[], None] | None) -> Callable[[Any, Any], None]:
        """What the loop calls after each training step, with the batch's summed loss and its
        number of images: it counts the step, and calls ``save`` every ``every`` steps."""

        def step_done(loss: Any, images: Any) -> None:  # numbers or tensors
            self.step, self.step_loss, self.step_images = (
                self.step + 1, self.step_loss + loss, self.step_images + images)
            if save is not None and every > 0 and self.step % every == 0:
                save()

        return step_done

    def position(self) -> str:
        """Where a resumed run starts: ``epoch K`` (as Keras counts), or ``epoch K, step S``."""
        return f"epoch {self.next_epoch}" + (f", step {self.step + 1}" if self.step else "")

    def to_save(self) -> dict[str, Any]:
        """The progress as a resume state holds it (marked as saved at its position)."""
        self.saved = self.position()
        self.step_loss, self.step_images = float(self.step_loss), float(self.step_images)
        return asdict(self)


def figures(record: dict[str, float]) -> str:
    """``train loss 0.1234  val accuracy 0.9876``: every figure of a record, as printed."""
    return "  ".join(f"{name.replace('_', ' ')} {value:.4f}" for name, value in record.items()
                     if name != "epoch")


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
        if not progress.saved:
            raise Interrupted("nothing was saved yet; "
                              "run the same command again to start over.") from None
        raise Interrupted(f"the run is saved; run the same command again to resume from "
                          f"{progress.saved}, or add --fresh to start over.") from None


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
