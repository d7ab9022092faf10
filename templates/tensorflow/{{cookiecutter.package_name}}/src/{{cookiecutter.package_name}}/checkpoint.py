"""Checkpoints that survive a crash, and the resume state of an interrupted run.

run_dir/best.keras is the best model so far (export and predict read it), written atomically
(progress.atomic_path). run_dir/resume/ holds what an interrupted run needs to go on: a
``tf.train.Checkpoint`` of model, optimizer (with its step count, which drives the learning
rate), the state of its random layers and the run's progress, kept by a
``tf.train.CheckpointManager``. TensorFlow writes a checkpoint's files first and then,
atomically, the small ``checkpoint`` file that names the latest one, so a crash at any moment
leaves the previous checkpoint whole. A finished run deletes resume/ (as Keras'
BackupAndRestore deletes its backup), so the same command run again trains afresh.
"""

import json
import shutil
import zipfile
from dataclasses import asdict
from pathlib import Path

from .config import Config
from .progress import Progress, atomic_path, check_same_settings, settings, write_json
from .quiet import keras, tf

# The best model so far, in run_dir; export and predict read it.
CHECKPOINT = "best.keras"
RESUME = "resume"


def save(model: keras.Model, path: Path) -> None:
    """model.save, atomically."""
    with atomic_path(path) as temporary:
        model.save(temporary)


def save_settings(path: Path, config: Config, classes: int, shape: tuple[int, ...]) -> None:
    """Beside the checkpoint, the settings that made it, so that it describes itself."""
    path.write_text(
        json.dumps(
            {
                "config": asdict(config),
                "num_classes": classes,
                "image_size": shape[1],
                "channels": shape[3],
            },
            indent=2,
        )
        + "\n"
    )


def load_checkpoint(path: Path) -> tuple[keras.Model, dict]:
    """The trained Keras model and the settings saved beside it."""
    if not path.is_file():
        raise ValueError(f"No checkpoint at {path}: train first (python -m {__package__}.train).")
    return load_best(path)


def load_best(path: Path) -> tuple[keras.Model, dict]:
    """The best model and the settings saved beside it (train.save_settings' .json)."""
    try:
        model = keras.models.load_model(path)
    except (ValueError, OSError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise damaged(path, "train again", error) from None
    settings_file = path.with_suffix(".json")
    try:
        saved = json.loads(settings_file.read_text())
        if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
            raise ValueError("no config in it")
    except (OSError, ValueError) as error:
        raise damaged(settings_file, "train again", error) from None
    return model, saved


def damaged(path: Path, fix: str, error: Exception) -> ValueError:
    """The one-line error for a checkpoint that cannot be used."""
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return ValueError(f"{path} is damaged or not a checkpoint ({reason}): {fix}.")


class ResumeState:
    """Model, optimizer and progress as one TensorFlow checkpoint, in ``folder/resume``."""

    def __init__(
        self,
        model: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        augmentation: keras.Sequential | None = None,
    ) -> None:
        # The progress travels inside the checkpoint, as JSON, so that the two always agree.
        self.progress = tf.Variable(json.dumps(asdict(Progress())), trainable=False)
        random = random_states(model) + (random_states(augmentation) if augmentation else [])
        self.checkpoint = tf.train.Checkpoint(
            model=model, optimizer=optimizer, progress=self.progress, random=random
        )

    def restore(
        self, run_dir: Path, config: Config, fresh: bool = False, forget: bool = True
    ) -> Progress:
        """Load an interrupted run's state, if ``run_dir`` holds one. ``fresh`` starts over
        instead, deleting that state if ``forget`` (the chief).

        Raises:
            ValueError: the interrupted run had other settings.
        """
        folder, fix = run_dir / RESUME, "train again with --fresh to start over"
        if fresh and forget:
            finish(run_dir)
        if fresh or not (folder / "settings.json").is_file():
            return Progress()
        try:
            saved = json.loads((folder / "settings.json").read_text())
        except (OSError, ValueError) as error:
            raise damaged(folder / "settings.json", fix, error) from None
        check_same_settings(saved, config, folder)
        latest = tf.train.latest_checkpoint(folder)
        if latest is None:
            return Progress()
        try:
            self.checkpoint.restore(latest).expect_partial()
            return Progress(**json.loads(self.progress.numpy().decode()))
        except (tf.errors.OpError, ValueError, TypeError, AssertionError) as error:
            raise damaged(folder, fix, error) from None

    def saver(self, folder: Path, config: Config) -> tf.train.CheckpointManager:
        """Where this process saves its resume state (the chief: run_dir/resume)."""
        (folder / RESUME).mkdir(parents=True, exist_ok=True)
        write_json(folder / RESUME / "settings.json", settings(config))
        return tf.train.CheckpointManager(self.checkpoint, folder / RESUME, max_to_keep=1)

    def save(self, manager: tf.train.CheckpointManager, progress: Progress) -> None:
        self.progress.assign(json.dumps(progress.to_save()))
        manager.save()


def random_states(layers: keras.Layer) -> list[tf.Variable]:
    """Where the random layers (the model's Dropout, the augmentation's) are in their sequences
    of random numbers. tf.train.Checkpoint leaves Keras' seed generators out: without these, a
    resumed run would draw other dropout masks and augment otherwise than the uninterrupted
    one."""
    return [
        variable.value
        for variable in layers.non_trainable_variables
        if variable.name == "seed_generator_state"
    ]


def finish(run_dir: Path) -> None:
    """A finished run leaves nothing to resume."""
    shutil.rmtree(run_dir / RESUME, ignore_errors=True)
