"""How far a training run has got, and what happens when it stops early.

Both checkpoint writers use ``atomic_path``: a file is written under a temporary name beside
its final one and renamed into place, so a crash at any moment leaves the previous file
whole. An interrupted run is continued by running the same command again; the settings of
the interrupted run are checked first, so that a run is never continued with other ones.
"""

import atexit
import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
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

    def counter(
        self, every: int, save: Callable[[], None] | None, stop: Callable[[int], int] | None = None
    ) -> Callable[[Any, Any], None]:
        """What the loop calls after each training step, with the batch's summed loss and its
        number of images: it counts the step, calls ``save`` every ``every`` steps, and stops
        there if ``stop`` (``stop_signals``' check) says so."""

        def step_done(loss: Any, images: Any) -> None:  # numbers or tensors
            self.step, self.step_loss, self.step_images = (
                self.step + 1,
                self.step_loss + loss,
                self.step_images + images,
            )
            if save is not None and every > 0 and self.step % every == 0:
                save()
            if stop is not None:
                self.stop_if_asked(stop, save)

        return step_done

    def stop_if_asked(self, stop: Callable[[int], int], save: Callable[[], None] | None) -> None:
        """If a stop signal came (``stop`` returns its number), save here and raise
        ``Stopped``; ``save`` is None in processes that do not write."""
        if number := stop(self.step):
            if save is not None:
                save()
            raise Stopped(number, self)

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
    return "  ".join(
        f"{name.replace('_', ' ')} {value:.4f}" for name, value in record.items() if name != "epoch"
    )


# What stops a training run between two steps, saving where it is: SIGTERM (Kubernetes'
# eviction, a spot VM's warning, `kill`), SIGUSR1 (SLURM's `--signal` warning) and Ctrl-C.
STOP_SIGNALS = ("SIGTERM", "SIGUSR1", "SIGINT")


class Stopped(KeyboardInterrupt):
    """A stop signal ended training after its state was saved. ``status`` is the exit status
    (128 + the signal's number, as a shell reports a process the signal ended), which tells a
    launcher (SLURM, Kubernetes, SkyPilot) to start the same command again."""

    def __init__(self, number: int, progress: Progress) -> None:
        super().__init__(
            f"stopped at epoch {progress.next_epoch}, step {progress.step}: saved; "
            "run the same command to resume"
        )
        self.status = 128 + number


@contextmanager
def stop_signals(
    agree: Callable[[int], int] = int, every: int = 1
) -> Iterator[Callable[[int], int]]:
    """While training, a stop signal only asks the loop to stop: it finishes its step, saves
    and raises ``Stopped`` (``Progress.stop_if_asked``). Yields the check the loop calls with
    the steps taken, which returns the signal's number (0: go on). Every ``every`` steps it
    asks ``agree`` for the signal any process got, so that all stop at the same step.

    A second signal while saving is ignored: the save finishes (and it is atomic anyway).
    Once stopping, SIGTERM and SIGUSR1 stay ignored until the process exits, so that what
    follows the save finishes (every process leaves together); Ctrl-C again ends it at once.
    """
    asked = [0]

    def ask(number: int, frame: FrameType | None) -> None:
        asked[0] = asked[0] or number

    previous = {}
    if threading.current_thread() is threading.main_thread():  # signals reach only that one
        for name in STOP_SIGNALS:
            number = getattr(signal, name, None)  # Windows has no SIGUSR1
            # A background job ignores Ctrl-C, and so does its training.
            if number is not None and signal.getsignal(number) is not signal.SIG_IGN:
                previous[number] = signal.signal(number, ask)

    def check(step: int) -> int:
        return agree(asked[0]) if step % every == 0 else 0

    try:
        yield check
    finally:
        for number, handler in previous.items():
            if not asked[0] or number == signal.SIGINT:
                signal.signal(number, handler)
        if asked[0]:  # Python drops its own handlers as it shuts down: ignore them from there
            atexit.register(ignore, [number for number in previous if number != signal.SIGINT])


def ignore(numbers: list[int]) -> None:
    for number in numbers:
        signal.signal(number, signal.SIG_IGN)


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
    if changed := [
        f"{name}: {saved.get(name)!r} then, {value!r} now"
        for name, value in now.items()
        if saved.get(name) != value
    ]:
        raise ValueError(
            f"{where} holds an unfinished run with other settings "
            f"({', '.join(changed)}). Run with the same settings to resume it, "
            "or add --fresh to start over."
        )
