"""Checkpoints that survive a crash, and the resume state of an interrupted run.

run_dir/best.ckpt is the best model so far (export and predict read it). run_dir/resume.ckpt
holds what an interrupted run needs to go on: model, optimizer, scheduler, the finished
epochs and their history, the steps taken in the next one (with ``checkpoint_every_steps``)
and the random number generators. Both are written atomically
(progress.atomic_path), so a crash at any moment leaves the previous file whole. A finished
run deletes resume.ckpt (as Keras' BackupAndRestore deletes its backup), so the same command
run again trains afresh.
"""

import io
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import distributed
from .config import Config
from .model import build_model
from .progress import Progress, atomic_path, check_same_settings, settings

# The best model so far, in run_dir; export and predict read it.
CHECKPOINT = "best.ckpt"
RESUME = "resume.ckpt"
# What loading a best checkpoint (train.save_best's) needs from it.
BEST_KEYS = ("model_state", "config", "num_classes", "image_size", "channels")


def save(state: dict[str, Any], path: Path) -> None:
    """torch.save, atomically."""
    # Serialised in memory first: torch.save onto a full disk raises a RuntimeError that
    # hides the cause, while a plain write raises OSError (ENOSPC), which main() explains.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_path(path) as temporary:
        temporary.write_bytes(buffer.getbuffer())


def load(path: Path, fix: str = "train again") -> dict[str, Any]:
    """torch.load; a file that is empty, cut short or not a checkpoint is a ValueError naming
    it and ``fix``."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise  # unreadable, not damaged: the caller names the path and the disk
    except Exception as error:  # torch's unpickler, fed damaged bytes, raises any of many
        raise damaged(path, fix, error) from None
    if not isinstance(state, dict):
        raise damaged(path, fix, TypeError(f"it holds a {type(state).__name__}"))
    return state


def load_best(path: Path) -> dict[str, Any]:
    """The best checkpoint (save_best's), every part it needs there."""
    state = load(path)
    if missing := [key for key in BEST_KEYS if key not in state]:
        raise damaged(path, "train again", KeyError(", ".join(missing)))
    return state


def damaged(path: Path, fix: str, error: Exception) -> ValueError:
    """The one-line error for a checkpoint that cannot be used."""
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    if isinstance(error, KeyError):
        reason = f"it lacks {error.args[0]}"
    return ValueError(f"{path} is damaged or not a checkpoint ({reason}): {fix}.")


def resume(
    run_dir: Path,
    config: Config,
    parts: dict[str, Any],
    fresh: bool = False,
    process: distributed.Process | None = None,
) -> Progress:
    """Load an interrupted run's state into ``parts`` (model, optimizer, ...), if there is one.
    ``fresh`` starts over instead (rank 0 deletes that state).

    Raises:
        ValueError: the interrupted run had other settings.
    """
    path, rank = run_dir / RESUME, process.rank if process else 0
    if fresh and rank == 0:
        finish(run_dir)
    if fresh or not path.is_file():
        return Progress()
    fix = "train again with --fresh to start over"
    state = load(path, fix)
    try:
        check_same_settings(state["config"], config, path)
        for name, part in parts.items():
            part.load_state_dict(state[name])
        torch.set_rng_state(state["rng"]["torch"])
        if torch.cuda.is_available() and state["rng"]["cuda"]:
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        progress = Progress(**state["progress"])
    except (KeyError, TypeError, RuntimeError) as error:  # not what save_resume_state wrote
        raise damaged(path, fix, error) from None
    shares = state.get("shares", [])
    if rank < len(shares):  # this process's own part of the epoch's loss so far
        progress.step_loss, progress.step_images = shares[rank]
    return progress


def save_resume_state(
    run_dir: Path,
    config: Config,
    parts: dict[str, Any],
    progress: Progress,
    process: distributed.Process | None = None,
) -> None:
    """Everything needed to continue from ``progress.position()``. Every process calls it
    (with ``process``): each hands rank 0 its share of the epoch's loss so far; rank 0 writes."""
    shares = distributed.gather([progress.step_loss, progress.step_images], process)
    if process is not None and not process.main:
        return
    rng = {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    save(
        {
            **{name: part.state_dict() for name, part in parts.items()},
            "config": settings(config),
            "progress": progress.to_save(),
            "rng": rng,
            "shares": shares,
        },
        run_dir / RESUME,
    )


def finish(run_dir: Path) -> None:
    """A finished run leaves nothing to resume."""
    (run_dir / RESUME).unlink(missing_ok=True)


def save_best(
    path: Path,
    model: nn.Module,
    config: Config,
    classes: int,
    shape: tuple[int, int],
    epoch: int,
    val_accuracy: float,
) -> None:
    """A checkpoint that describes itself: weights plus the settings that made them."""
    save(
        {
            "model_state": model.state_dict(),
            "config": asdict(config),
            "num_classes": classes,
            "image_size": shape[0],
            "channels": shape[1],
            "epoch": epoch,
            "val_accuracy": val_accuracy,
        },
        path,
    )


def load_checkpoint(path: Path) -> tuple[nn.Module, dict]:
    """Rebuild the model from a checkpoint; returns it (in eval mode) and the checkpoint."""
    if not path.is_file():
        raise ValueError(f"No checkpoint at {path}: train first (python -m {__package__}.train).")
    saved = load_best(path)
    # No pretrained weights to read: the checkpoint holds every weight. (A checkpoint from
    # before the model setting existed holds the small CNN.)
    model = build_model(
        saved["config"].get("model", "small_cnn"),
        saved["num_classes"],
        saved["image_size"],
        saved["channels"],
    )
    model.load_state_dict(saved["model_state"])
    return model.eval(), saved
