"""Classify images with an exported model (or the checkpoint).

python -m {{ cookiecutter.package_name }}.predict INPUT [--model FILE] [--limit N]

INPUT is an image file (PNG, JPEG: a light digit on a dark background), resized to
the model's input size, an .npy of images (N, H, W), or an .npz like data/digits.npz
(its test split), whose images must already have the model's size.
"""

import argparse
import json
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import as_model_input
from .quiet import tame_known_noise
from .runtimes import load_runner
from .splits import checked_pixels, class_names
from .train import CHECKPOINT, load_checkpoint

MANIFEST = Path("artifacts/manifest.json")


@dataclass(frozen=True)
class ModelCard:
    """What predict needs to know about a model besides its weights."""

    image_size: int
    classes: list[str]


def describe(model: Path) -> ModelCard:
    """The input size and class names of a model: from the manifest.json beside an exported
    model, or from the checkpoint itself."""
    manifest_file = model.parent / "manifest.json"
    if not model.exists() and model.suffix != Path(CHECKPOINT).suffix:
        raise ValueError(f"Model {model} does not exist: export first, or pass --model.")
    if manifest_file.is_file():
        manifest = read_manifest(manifest_file)
        if any(entry["file"] == model.name for entry in manifest["artifacts"]):
            shape, layout = manifest["input"]["shape"], manifest["input"]["layout"]
            return ModelCard(shape[2] if layout == "NCHW" else shape[1], manifest["classes"])
    if model.suffix != Path(CHECKPOINT).suffix:
        raise ValueError(f"{model} is not listed in a manifest.json beside it, so its input "
                         f"size and classes are unknown: keep it in the folder export wrote.")
    _, checkpoint = load_checkpoint(model)
    names = class_names(checkpoint["config"]["data"])
    return ModelCard(checkpoint["image_size"],
                     names or [str(n) for n in range(checkpoint["num_classes"])])


def read_images(path: Path, size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Uint8 images (N, size, size) and their labels if the file has them."""
    if not path.is_file():
        raise ValueError(f"Input {path} does not exist.")
    if path.suffix in (".npz", ".npy"):
        images, labels = _read_arrays(path)
        if images.shape[1:] != (size, size):
            raise ValueError(f"The images in {path} are {images.shape[1:]}, but the model takes "
                             f"{size}x{size}: resize them, or pass image files (resized for you).")
        return images, labels
    from PIL import Image

    try:
        with Image.open(path) as image:
            gray = image.convert("L").resize((size, size), Image.Resampling.BOX)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValueError(f"{path} is not a readable image, .npy or .npz file.") from None
    return np.asarray(gray, dtype=np.uint8)[None], None


def _read_arrays(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """An .npy's images, or an .npz's x_test and y_test."""
    try:
        with path.open("rb") as handle:
            loaded = np.load(handle)
            if isinstance(loaded, np.ndarray):
                images, labels = loaded, None
            else:
                with loaded as arrays:
                    if "x_test" not in arrays.files:
                        raise KeyError(", ".join(arrays.files))
                    images = arrays["x_test"]
                    labels = arrays["y_test"] if "y_test" in arrays.files else None
    except KeyError as found:
        raise ValueError(f"{path} has no x_test array (found: {found.args[0]}).") from None
    except (ValueError, EOFError, OSError, AttributeError, zipfile.BadZipFile):
        raise ValueError(f"{path} is not a readable {path.suffix} file (empty, truncated or "
                         "another kind of file).") from None
    images = images[None] if images.ndim == 2 else images
    if images.ndim != 3:
        raise ValueError(f"{path} holds an array of shape {images.shape}; images are (N, H, W).")
    return checked_pixels(path, "the images", images), labels


def read_manifest(path: Path) -> dict:
    """The manifest export wrote; a damaged one is named, with the fix."""
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}): export again.") from None


def default_model() -> Path:
    """The first exported artifact, or the training checkpoint if nothing was exported."""
    if MANIFEST.is_file():
        artifacts = read_manifest(MANIFEST)["artifacts"]
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


def report(probabilities: np.ndarray, classes: list[str], labels: np.ndarray | None,
           limit: int) -> None:
    """Print each image's top class by name with the top 3, and the accuracy if labelled."""
    for index, row in enumerate(probabilities[:limit]):
        top = np.argsort(row)[::-1][:3]
        ranked = ", ".join(f"{classes[label]} ({row[label]:.3f})" for label in top)
        truth = f"  (label {classes[int(labels[index])]})" if labels is not None else ""
        print(f"image {index}: {classes[top[0]]}{truth}   top-3: {ranked}")
    if labels is not None:
        accuracy = float((probabilities.argmax(axis=1) == labels).mean())
        print(f"accuracy on {len(labels)} images: {accuracy:.4f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Classify images with an exported model.")
    parser.add_argument("input", type=Path, help="an image, an .npy or an .npz file")
    parser.add_argument("--model", type=Path, help="model file (default: the first artifact)")
    parser.add_argument("--limit", type=int, default=10, help="images to list (default 10)")
    args = parser.parse_args(argv)
    tame_known_noise()
    try:
        model = args.model or default_model()
        card = describe(model)
        images, labels = read_images(args.input, card.image_size)
        probabilities = predict(model, images)
        if labels is not None and not np.isin(labels, np.arange(len(card.classes))).all():
            raise ValueError(f"{args.input}'s labels are not classes 0..{len(card.classes) - 1} "
                             "of this model.")
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"model: {model}")
    report(probabilities, card.classes, labels, args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
