{%- set any_target = cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server -%}
"""Classify images with {% if any_target %}an exported model (or the checkpoint){% else %}the trained model (its checkpoint){% endif %}.

python -m {{ cookiecutter.package_name }}.predict
    INPUT [INPUT...] [--model FILE] [--limit N]

INPUT is one or more image files of any size (JPEG, PNG, WebP...), made square and resized
the one way training did (images.py{% if any_target %}, as the manifest records{% endif %}), an .npy of images (N, H, W),
or an .npz like data/digits.npz (its test split), whose images must already have the
model's size.
"""

import argparse
{%- if any_target %}
import json
{%- endif %}
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

{% if any_target -%}
from . import lineage
{% endif -%}
from .data import as_model_input
from .flag_values import whole
from .images import load_image
from .quiet import tame_known_noise
from .runtimes import load_runner
from .splits import checked_pixels, class_names
from .train import CHECKPOINT, load_checkpoint
{%- if any_target %}

MANIFEST = Path("artifacts/manifest.json")
{%- endif %}


@dataclass(frozen=True)
class ModelCard:
    """What predict needs to know about a model besides its weights."""

    image_size: int
    channels: int
    classes: list[str]


def describe(model: Path) -> ModelCard:
{%- if any_target %}
    """The input size and class names of a model: from the manifest.json beside an exported
    model, or from the checkpoint itself."""
    manifest_file = model.parent / "manifest.json"
    if not model.exists() and model.suffix != Path(CHECKPOINT).suffix:
        raise ValueError(f"Model {model} does not exist: export first, or pass --model.")
    if manifest_file.is_file():
        manifest = read_manifest(manifest_file)
        if any(entry["file"] == model.name for entry in manifest["artifacts"]):
            lineage.warn_if_stale(manifest_file.parent, manifest)
            size, channels = input_size(manifest)
            return ModelCard(size, channels, manifest["classes"])
    if model.suffix != Path(CHECKPOINT).suffix:
        raise ValueError(
            f"{model} is not listed in a manifest.json beside it, so its input "
            f"size and classes are unknown: keep it in the folder export wrote."
        )
{%- else %}
    """The input size and class names of a model, from its checkpoint."""
    if model.suffix != Path(CHECKPOINT).suffix:
        raise ValueError(
            f"{model} is not a checkpoint: pass the one training wrote "
            f"(runs/{CHECKPOINT}) or another *{Path(CHECKPOINT).suffix} file."
        )
{%- endif %}
    _, checkpoint = load_checkpoint(model)
    names = class_names(checkpoint["config"]["data"])
    return ModelCard(
        checkpoint["image_size"],
        checkpoint["channels"],
        names or [str(n) for n in range(checkpoint["num_classes"])],
    )
{%- if any_target %}


def input_size(manifest: dict) -> tuple[int, int]:
    """The image side and channels a manifest's model takes (read from its input shape when
    an older export did not record them)."""
    shape, layout = manifest["input"]["shape"], manifest["input"]["layout"]
    size, channels = (shape[2], shape[1]) if layout == "NCHW" else (shape[1], shape[3])
    return manifest.get("image_size", size), manifest.get("channels", channels)
{%- endif %}


def read_images(paths: list[Path], card: ModelCard) -> tuple[np.ndarray, np.ndarray | None]:
    """Uint8 images (N, size, size, channels) and their labels if the file has them."""
    for path in paths:
        if path.is_dir():
            raise ValueError(
                f"{path} is a folder; pass image files (such as {path}/*.jpg), an .npy or an .npz."
            )
        if not path.is_file():
            raise ValueError(f"Input {path} does not exist.")
    arrays = [path for path in paths if path.suffix in (".npz", ".npy")]
    if arrays and len(paths) > 1:
        raise ValueError(f"Pass one .npy or .npz on its own, or image files ({arrays[0]}).")
    if not arrays:
        return np.stack([_read_image(path, card) for path in paths]), None
    images, labels = _read_arrays(paths[0])
    shape = (card.image_size, card.image_size, card.channels)
    images = images[..., None] if images.ndim == 3 else images
    if images.shape[1:] != shape:
        raise ValueError(
            f"The images in {paths[0]} are {images.shape[1:]} (H, W, C), but the "
            f"model takes {shape}: resize them, or pass image files (resized for "
            "you)."
        )
    return images, labels


def _read_image(path: Path, card: ModelCard) -> np.ndarray:
    try:
        return load_image(path, card.image_size, card.channels)
    except ValueError:
        raise ValueError(f"{path} is not a readable image, .npy or .npz file.") from None


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
        raise ValueError(
            f"{path} is not a readable {path.suffix} file (empty, truncated or "
            "another kind of file)."
        ) from None
    images = images[None] if images.ndim == 2 else images
    if images.ndim not in (3, 4):
        raise ValueError(
            f"{path} holds an array of shape {images.shape}; images are (N, H, W) or (N, H, W, C)."
        )
    return checked_pixels(path, "the images", images), labels
{%- if any_target %}


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
{%- else %}


def default_model() -> Path:
    """The checkpoint training wrote."""
    return Path("runs") / CHECKPOINT
{%- endif %}


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def predict(model: Path, images: np.ndarray) -> np.ndarray:
    """Class probabilities (N, classes) for uint8 images (N, H, W, C)."""
    run = load_runner(model)
    return softmax(run(as_model_input(images)))


def report(
    probabilities: np.ndarray, classes: list[str], labels: np.ndarray | None, limit: int
) -> None:
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
    parser = argparse.ArgumentParser(description="Classify images with {% if any_target %}an exported model{% else %}the trained model{% endif %}.")
    parser.add_argument("input", type=Path, nargs="+", help="image files, or one .npy or .npz file")
    parser.add_argument("--model", type=Path, help={% if any_target %}"model file (default: the first artifact)"{% else %}f"model file (default: runs/{CHECKPOINT})"{% endif %})
    parser.add_argument("--limit", type=whole(0), default=10, help="images to list (default 10)")
    args = parser.parse_args(argv)
    tame_known_noise()
    try:
        model = args.model or default_model()
        card = describe(model)
        images, labels = read_images(args.input, card)
        probabilities = predict(model, images)
        if labels is not None and not np.isin(labels, np.arange(len(card.classes))).all():
            raise ValueError(
                f"{args.input[0]}'s labels are not classes 0..{len(card.classes) - 1} "
                "of this model."
            )
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"model: {model}")
    report(probabilities, card.classes, labels, args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
