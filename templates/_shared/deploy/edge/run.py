{%- import "framework.j2" as framework -%}
"""Run the exported model on a device that has no PyTorch or TensorFlow.

Copy this folder (run.py and images.py), artifacts/manifest.json and the model to the
device, then:

    pip install numpy {{ framework.edge_runtime_package }}
    python run.py MODEL IMAGES.npy|.npz [--manifest manifest.json]

IMAGES: uint8 images (N, H, W) as .npy, or an .npz with x_test (and y_test, for accuracy).
Photos (JPEG, PNG...) of any size work too, with Pillow installed (pip install pillow):
``python run.py MODEL a.jpg b.png``; images.py turns them into pixels exactly as training
did, at the manifest's image_size and channels, and refuses one of more pixels than
MAX_IMAGE_PIXELS (an environment variable; images.py says the default).
Only NumPy and the model's runtime are imported (and Pillow for photos): nothing of the
training framework.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
{{ framework.edge_runner }}


# What reading photos needs, in one line each.
MISSING = {
    "images": "photos need images.py beside run.py: copy deploy/edge/images.py too.",
    "PIL": "photos need Pillow: pip install pillow",
}


def read_images(paths: list[Path], manifest: dict) -> tuple[np.ndarray, np.ndarray | None]:
    """uint8 images (N, H, W, C), and labels if an .npz has them."""
    if len(paths) == 1 and paths[0].suffix in (".npy", ".npz"):
        if paths[0].suffix == ".npz":
            with np.load(paths[0]) as arrays:
                images = arrays["x_test"]
                labels = arrays["y_test"] if "y_test" in arrays.files else None
        else:
            images, labels = np.load(paths[0]), None
        images = images[None] if images.ndim == 2 else images
        return (images[..., None] if images.ndim == 3 else images), labels
    try:
        from images import load_image  # images.py, beside this file; needs Pillow
    except ModuleNotFoundError as error:
        raise ValueError(MISSING.get(error.name or "", str(error))) from None
    size, channels = manifest["image_size"], manifest["channels"]
    return np.stack([load_image(path, size, channels) for path in paths]), None


def to_model_input(images: np.ndarray, layout: str) -> np.ndarray:
    """Raw 0-255 pixels with the channel axis where the model wants it (see manifest.json)."""
    ordered = images.transpose(0, 3, 1, 2) if layout == "NCHW" else images
    return np.ascontiguousarray(ordered, dtype=np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Classify images with an exported model.")
    parser.add_argument("model", type=Path, help="{{ framework.edge_model_help }}")
    parser.add_argument(
        "images", type=Path, nargs="+", help=".npy of uint8 images, an .npz with x_test, or photos"
    )
    parser.add_argument("--manifest", type=Path, help="default: manifest.json beside the model")
    args = parser.parse_args(argv)
    manifest_path = args.manifest or args.model.parent / "manifest.json"
    if args.model.suffix not in RUNNERS or not args.model.is_file():
        print(f"error: {args.model} is not {{ framework.edge_model_kind }} file.", file=sys.stderr)
        return 1
    if missing := [str(p) for p in [manifest_path, *args.images] if not p.is_file()]:
        print(f"error: need {' and '.join(missing)} (files).", file=sys.stderr)
        return 1
    manifest = json.loads(manifest_path.read_text())
    try:
        images, labels = read_images(args.images, manifest)
    except ValueError as error:  # a photo that cannot be read (named), or no Pillow
        print(f"error: {error}", file=sys.stderr)
        return 1
    pixels = to_model_input(images, manifest["input"]["layout"])
    logits = RUNNERS[args.model.suffix](args.model)(pixels)
    predicted = logits.argmax(axis=1)
    classes = manifest["classes"]
    print(json.dumps({"predictions": [classes[index] for index in predicted]}))
    if labels is not None:
        accuracy = (predicted == labels).mean()
        print(f"accuracy on {len(labels)} images: {accuracy:.4f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
