"""How test_resume.py reads this framework's checkpoints and resume state."""

import json
from pathlib import Path

import keras
import tensorflow as tf

from {{ cookiecutter.package_name }} import checkpoint
from {{ cookiecutter.package_name }}.config import Config
from {{ cookiecutter.package_name }}.model import build_model
from {{ cookiecutter.package_name }}.progress import settings, write_json

PACKAGE = "{{ cookiecutter.package_name }}"
EPOCHS = 8  # under a second each: time to stop a run after its first epoch


def saved_progress(run_dir: Path) -> dict | None:
    """The progress an interrupted run would resume from, once its resume state exists."""
    latest = tf.train.latest_checkpoint(run_dir / checkpoint.RESUME)
    if latest is None:
        return None
    try:
        progress = tf.train.load_checkpoint(latest).get_tensor(
            "progress/.ATTRIBUTES/VARIABLE_VALUE"
        )
    except (ValueError, tf.errors.NotFoundError):  # replaced while reading
        return None
    return json.loads(progress)


# Writes one checkpoint after another: python -c SAVE_FOREVER PATH MODE
SAVE_FOREVER = f"""
import os, pathlib, sys
from {PACKAGE} import checkpoint
from {PACKAGE}.model import build_model
model = build_model()
if sys.argv[2] == "crash-before-rename":  # killed between the temporary file and the rename
    os.replace = lambda *paths: os.kill(os.getpid(), 9)
print("ready", flush=True)
while True:
    checkpoint.save(model, pathlib.Path(sys.argv[1]))
"""


def weights_in(path: Path) -> list:
    return [variable.numpy() for variable in keras.models.load_model(path).weights]


def best_weights(path: Path) -> list:
    """The weights in a best checkpoint (train.py's best.keras), as arrays."""
    return weights_in(path)


def save_weights(path: Path) -> list:
    checkpoint.save(build_model(), path)
    return weights_in(path)


def damaged_resume_state(run_dir: Path, config: Config, content: bytes) -> Path:
    """What an interrupted run left, its checkpoint damaged: ``content`` (no bytes, or bytes
    that are no checkpoint) in its files."""
    folder = run_dir / checkpoint.RESUME
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "settings.json", settings(config))
    (folder / "checkpoint").write_text(
        'model_checkpoint_path: "ckpt-1"\nall_model_checkpoint_paths: "ckpt-1"\n'
    )
    for name in ("ckpt-1.index", "ckpt-1.data-00000-of-00001"):
        (folder / name).write_bytes(content)
    return folder
