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

from .config import Config
from .model import build_model
from .progress import Progress, atomic_path, check_same_settings, settings

# The best model so far, in run_dir; export and predict read it.
CHECKPOINT = "best.ckpt"
RESUME = "resume.ckpt"


def save(state: dict[str, Any], path: Path) -> None:
    """torch.save, atomically."""
    # Serialised in memory first: torch.save onto a full disk raises a RuntimeError that
    # hides the cause, while a plain write raises OSError (ENOSPC), which main() explains.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with atomic_path(path) as temporary:
        temporary.write_bytes(buffer.getbuffer())


def load(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def resume(run_dir: Path, config: Config, parts: dict[str, Any], fresh: bool = False,
           forget: bool = True) -> Progress:
    """Load an interrupted run's state into ``parts`` (model, optimizer, ...), if there is one.
    ``fresh`` starts over instead, deleting that state if ``forget`` (one process of several).

    Raises:
        ValueError: the interrupted run had other settings.
    """
    path = run_dir / RESUME
    if fresh and forget:
        finish(run_dir)
    if fresh or not path.is_file():
        return Progress()
    state = load(path)
    check_same_settings(state["config"], config, path)
    for name, part in parts.items():
        part.load_state_dict(state[name])
    torch.set_rng_state(state["rng"]["torch"])
    if torch.cuda.is_available() and state["rng"]["cuda"]:
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    return Progress(**state["progress"])


def save_resume_state(run_dir: Path, config: Config, parts: dict[str, Any],
                      progress: Progress) -> None:
    """Everything needed to continue from ``progress.position()``."""
    rng = {"torch": torch.get_rng_state(),
           "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}
    save({**{name: part.state_dict() for name, part in parts.items()},
          "config": settings(config), "progress": progress.to_save(), "rng": rng},
         run_dir / RESUME)


def finish(run_dir: Path) -> None:
    """A finished run leaves nothing to resume."""
    (run_dir / RESUME).unlink(missing_ok=True)


def save_best(path: Path, model: nn.Module, config: Config, classes: int,
              shape: tuple[int, int], epoch: int, val_accuracy: float) -> None:
    """A checkpoint that describes itself: weights plus the settings that made them."""
    save({"model_state": model.state_dict(), "config": asdict(config),
                     "num_classes": classes, "image_size": shape[0], "channels": shape[1],
                     "epoch": epoch, "val_accuracy": val_accuracy}, path)


def load_checkpoint(path: Path) -> tuple[nn.Module, dict]:
    """Rebuild the model from a checkpoint; returns it (in eval mode) and the checkpoint."""
    if not path.is_file():
        raise ValueError(f"No checkpoint at {path}: train first (python -m {__package__}.train).")
    saved = load(path)
    # No pretrained weights to read: the checkpoint holds every weight. (A checkpoint from
    # before the model setting existed holds the small CNN.)
    model = build_model(saved["config"].get("model", "small_cnn"), saved["num_classes"],
                        saved["image_size"], saved["channels"])
    model.load_state_dict(saved["model_state"])
    return model.eval(), saved
