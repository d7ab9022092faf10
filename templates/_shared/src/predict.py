"""Classify images with an exported model (or the checkpoint).

python -m {{ cookiecutter.package_name }}.predict INPUT [--model FILE] [--limit N]

INPUT is an image file (PNG, JPEG: a light digit on a dark background), an .npy
of uint8 images (N, H, W), or an .npz like data/digits.npz (its test split).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .data import as_model_input
from .quiet import tame_known_noise
from .runtimes import load_runner
from .train import CHECKPOINT

MANIFEST = Path("artifacts/manifest.json")


def read_images(path: Path, size: int = 8) -> tuple[np.ndarray, np.ndarray | None]:
    """Uint8 images (N, size, size) and their labels if the file has them."""
    if not path.is_file():
        raise ValueError(f"Input {path} does not exist.")
    if path.suffix == ".npz":
        with np.load(path) as arrays:
            if "x_test" not in arrays.files:
                raise ValueError(f"{path} has no x_test array (found: {', '.join(arrays.files)}).")
            labels = arrays["y_test"] if "y_test" in arrays.files else None
            return arrays["x_test"].astype(np.uint8), labels
    if path.suffix == ".npy":
        images = np.load(path)
        return (images[None] if images.ndim == 2 else images).astype(np.uint8), None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            gray = image.convert("L").resize((size, size), Image.Resampling.BOX)
    except UnidentifiedImageError:
        raise ValueError(f"{path} is not an image, an .npy or an .npz file.") from None
    return np.asarray(gray, dtype=np.uint8)[None], None


def default_model() -> Path:
    """The first exported artifact, or the training checkpoint if nothing was exported."""
    if MANIFEST.is_file():
        artifacts = json.loads(MANIFEST.read_text())["artifacts"]
        if artifacts:
            return MANIFEST.parent / artifacts[0]["file"]
    return Path("runs") / CHECKPOINT


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def predict(model: Path, images: np.ndarray) -> np.ndarray:
    """Class probabilities (N, classes) for uint8 images (N, H, W)."""
    run = load_runner(model)
    return softmax(run(as_model_input(images)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Classify images with an exported model.")
    parser.add_argument("input", type=Path, help="an image, an .npy or an .npz file")
    parser.add_argument("--model", type=Path, help="model file (default: the first artifact)")
    parser.add_argument("--limit", type=int, default=10, help="images to list (default 10)")
    args = parser.parse_args(argv)
    tame_known_noise()
    try:
        model = args.model or default_model()
        images, labels = read_images(args.input)
        probabilities = predict(model, images)
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"model: {model}")
    for index, row in enumerate(probabilities[: args.limit]):
        top = np.argsort(row)[::-1][:3]
        ranked = ", ".join(f"{label} ({row[label]:.3f})" for label in top)
        truth = f"  (label {labels[index]})" if labels is not None else ""
        print(f"image {index}: {top[0]}{truth}   top-3: {ranked}")
    if labels is not None:
        accuracy = float((probabilities.argmax(axis=1) == labels).mean())
        print(f"accuracy on {len(labels)} images: {accuracy:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
