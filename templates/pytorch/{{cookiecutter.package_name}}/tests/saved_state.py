"""How test_resume.py reads this framework's checkpoints and resume state."""

from pathlib import Path

from {{ cookiecutter.package_name }} import checkpoint
from {{ cookiecutter.package_name }}.config import Config
from {{ cookiecutter.package_name }}.model import DigitsCNN

PACKAGE = "{{ cookiecutter.package_name }}"
EPOCHS = 3  # several seconds each: time to stop a run after its first epoch


def saved_progress(run_dir: Path) -> dict | None:
    """The progress an interrupted run would resume from, once its resume state exists."""
    path = run_dir / checkpoint.RESUME
    return checkpoint.load(path)["progress"] if path.is_file() else None


# Writes one checkpoint after another: python -c SAVE_FOREVER PATH MODE
SAVE_FOREVER = f"""
import os, pathlib, sys
from {PACKAGE} import checkpoint
from {PACKAGE}.model import DigitsCNN
model = DigitsCNN()
if sys.argv[2] == "crash-before-rename":  # killed between the temporary file and the rename
    os.replace = lambda *paths: os.kill(os.getpid(), 9)
print("ready", flush=True)
while True:
    checkpoint.save(dict(model=model.state_dict()), pathlib.Path(sys.argv[1]))
"""


def weights_in(path: Path) -> list:
    return [tensor.numpy() for tensor in checkpoint.load(path)["model"].values()]


def best_weights(path: Path) -> list:
    """The weights in a best checkpoint (train.py's best.ckpt), as arrays."""
    return [tensor.numpy() for tensor in checkpoint.load_best(path)["model_state"].values()]


def save_weights(path: Path) -> list:
    model = DigitsCNN()
    checkpoint.save({"model": model.state_dict()}, path)
    return weights_in(path)


def damaged_resume_state(run_dir: Path, config: Config, content: bytes) -> Path:
    """What an interrupted run left, damaged: ``content`` (no bytes, or bytes that are no
    checkpoint) where its resume state should be."""
    path = run_dir / checkpoint.RESUME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path
