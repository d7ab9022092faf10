"""Checkpoints that survive a crash, and the resume state of an interrupted run.

run_dir/best.keras is the best model so far (export and predict read it). run_dir/resume/ is
Keras' BackupAndRestore folder: model and optimizer after the last finished epoch, plus the
settings and the history of the run. Every file is written atomically
(progress.atomic_path), so a crash at any moment leaves the previous one whole. A finished
run deletes resume/ (BackupAndRestore does), so the same command run again trains afresh.
"""

import json
import shutil
from dataclasses import asdict
from pathlib import Path

from .config import Config
from .progress import Progress, atomic_path, check_same_settings, settings, write_json
from .quiet import keras

RESUME = "resume"


def save(model: keras.Model, path: Path) -> None:
    """model.save, atomically."""
    with atomic_path(path) as temporary:
        model.save(temporary)


def resume(run_dir: Path, config: Config) -> Progress:
    """The history of an interrupted run, if there is one (Keras restores the model itself).

    Raises:
        ValueError: the interrupted run had other settings.
    """
    folder = run_dir / RESUME
    if not (folder / "settings.json").is_file():
        return Progress()
    check_same_settings(json.loads((folder / "settings.json").read_text()), config, folder)
    if not (folder / "progress.json").is_file():
        return Progress()
    return Progress(**json.loads((folder / "progress.json").read_text()))


def callbacks(run_dir: Path, best: Path, config: Config,
              progress: Progress) -> list[keras.callbacks.Callback]:
    """Keep the best model and the history, and back up model and optimizer every epoch."""
    folder = run_dir / RESUME
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "settings.json", settings(config))
    # In this order: a kill between two of them re-runs an epoch, never skips one.
    return [SaveBest(best, progress), Record(folder, progress), AtomicBackupAndRestore(folder)]


def finish(run_dir: Path) -> None:
    """A finished run leaves nothing to resume."""
    shutil.rmtree(run_dir / RESUME, ignore_errors=True)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore, writing each of its two files atomically.

    Keras writes the weights and then the epoch number in place; a kill during the first
    would leave a half-written weights file. Its file names and counters are Keras 3's.
    """

    def _save_model(self) -> None:
        Path(self.backup_dir).mkdir(parents=True, exist_ok=True)
        with atomic_path(Path(self._weights_path)) as temporary:
            self.model.save_weights(temporary)
        write_json(Path(self._training_metadata_path),
                   {"epoch": self._current_epoch, "batch": self._last_batch_seen})


class SaveBest(keras.callbacks.Callback):
    """Save the model whenever validation accuracy is the best so far (atomically)."""

    def __init__(self, path: Path, progress: Progress) -> None:
        super().__init__()
        self.path, self.progress = path, progress

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if (logs or {})["val_accuracy"] > self.progress.best_accuracy:
            save(self.model, self.path)


class Record(keras.callbacks.Callback):
    """The history of every epoch, across interruptions, saved beside the backup."""

    def __init__(self, folder: Path, progress: Progress) -> None:
        super().__init__()
        self.folder, self.progress, self.started = folder, progress, False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if not self.started:  # BackupAndRestore has chosen the epoch to start from
            self.started = True
            del self.progress.history[epoch:]  # epochs that will run again
            if epoch:
                print(f"resuming from epoch {epoch + 1}", flush=True)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.progress.add(epoch + 1, {name: float(value) for name, value in (logs or {}).items()})
        write_json(self.folder / "progress.json", asdict(self.progress))
