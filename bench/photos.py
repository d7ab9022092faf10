"""A folder of generated photos, one sub-folder per class, in every mode and format Pillow reads.

python -m bench.photos FOLDER [--per-class N] [--seed S]

Four pattern classes (horizontal stripes, vertical stripes, a checkerboard, rings), each
drawn in two random colours at a random size from 30 to 400 pixels a side (not square):
JPEG, PNG (RGB, RGBA with transparent corners, palette, grayscale, 16-bit), WebP, BMP,
GIF, CMYK JPEG and EXIF-rotated JPEG in turn. Beside them: one truncated JPEG, and the
files that are not images which folders of photos collect (notes.txt, .DS_Store, Thumbs.db).
Used by tests/test_photos.py and bench/photo_epochs.py.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # Pillow is imported where photos are drawn: fwstart's tests lack it
    from PIL import Image

CLASSES = ("checks", "hstripes", "rings", "vstripes")
CORRUPT = Path("checks") / "truncated.jpg"
NOT_IMAGES = (Path("notes.txt"), Path("hstripes") / ".DS_Store", Path("rings") / "Thumbs.db")


def pattern(kind: str, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """True where the pattern's foreground is, on a (height, width) grid."""
    period = rng.uniform(0.12, 0.2) * min(width, height)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    if kind == "hstripes":
        return (ys // (period / 2)) % 2 == 0
    if kind == "vstripes":
        return (xs // (period / 2)) % 2 == 0
    if kind == "checks":
        return ((ys // period) + (xs // period)) % 2 == 0
    radius = np.hypot(ys - height / 2, xs - width / 2)
    return (radius // (period / 2)) % 2 == 0


def colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two random colours far enough apart in brightness to be told apart in grayscale."""
    while True:
        first, second = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        if abs(int(first.mean()) - int(second.mean())) > 60:
            return first, second


def draw(kind: str, rng: np.random.Generator) -> Image.Image:
    from PIL import Image

    width, height = (int(side) for side in rng.integers(30, 401, 2))
    if max(width, height) > 1.6 * min(width, height):  # keep the pattern inside the centre crop
        height = width = min(width, height)
    first, second = colours(rng)
    mask = pattern(kind, width, height, rng)
    return Image.fromarray(np.where(mask[..., None], first, second).astype(np.uint8))


def _rgba(image: Image.Image) -> Image.Image:
    from PIL import Image

    rgba = image.convert("RGBA")
    alpha = np.full(image.size[::-1], 255, np.uint8)
    alpha[:4, :4] = 0  # transparent corners, composited on white
    rgba.putalpha(Image.fromarray(alpha))
    return rgba


def _sixteen_bit(image: Image.Image) -> Image.Image:
    from PIL import Image

    return Image.fromarray(np.asarray(image.convert("L"), np.uint16) * 257)


def _exif_rotated(image: Image.Image, path: Path) -> None:
    """Stored turned a quarter left, with the EXIF tag that stands it up again."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    image.transpose(Image.Transpose.ROTATE_90).save(path.with_suffix(".jpg"), exif=exif)


WRITERS: list[Callable[[Image.Image, Path], None]] = [
    lambda image, path: image.save(path.with_suffix(".jpg"), quality=92),
    lambda image, path: image.save(path.with_suffix(".png")),
    lambda image, path: _rgba(image).save(path.with_suffix(".png")),
    lambda image, path: image.convert("P").save(path.with_suffix(".png")),
    lambda image, path: image.convert("L").save(path.with_suffix(".png")),
    lambda image, path: _sixteen_bit(image).save(path.with_suffix(".png")),
    lambda image, path: image.save(path.with_suffix(".webp"), quality=90),
    lambda image, path: image.save(path.with_suffix(".bmp")),
    lambda image, path: image.save(path.with_suffix(".gif")),
    lambda image, path: image.convert("CMYK").save(path.with_suffix(".jpeg"), quality=92),
    _exif_rotated,
]


def make_photo_folder(root: Path, per_class: int = 40, seed: int = 0) -> Path:
    """Write the folder (see the module's docstring); return ``root``."""
    rng = np.random.default_rng(seed)
    for kind in CLASSES:
        (root / kind).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            WRITERS[index % len(WRITERS)](draw(kind, rng), root / kind / f"{kind}-{index:04d}")
    whole = (root / "checks" / "checks-0000.jpg").read_bytes()
    (root / CORRUPT).write_bytes(whole[: len(whole) // 3])
    (root / NOT_IMAGES[0]).write_text("photos taken on Tuesday\n")
    for name in NOT_IMAGES[1:]:
        (root / name).write_bytes(b"\0\1\2\3")
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--per-class", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    make_photo_folder(args.folder, args.per_class, args.seed)
    print(f"wrote {args.per_class * len(CLASSES)} photos in {args.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
