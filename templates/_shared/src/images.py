"""One photo in, one array out: the preprocessing every part of the project shares.

Training, predict, the service (its ``{"b64": ...}`` instances), deploy/edge/run.py and the
web page (its JavaScript twin) all turn a picture into pixels this one way, with the
``image_size`` and ``channels`` recorded in artifacts/manifest.json:

1. the EXIF orientation is applied (a phone's portrait photo stands upright);
2. transparency is laid over white, then the picture becomes RGB (channels 3) or grayscale
   (channels 1, Pillow's ITU-R 601-2 luma: L = (19595 R + 38470 G + 7471 B + 32768) >> 16);
   16-bit pictures are scaled to 8 bits (round(v / 257)), CMYK and palettes converted;
3. the centre square is cut out: side = min(w, h), left = (w - side) // 2,
   top = (h - side) // 2;
4. the square is resized to ``size`` x ``size`` with Pillow's BILINEAR filter (a triangle
   filter whose support widens with the reduction, so shrinking averages, never skips);
5. the result is uint8 (size, size, channels); the model takes these raw 0-255 pixels.
"""

from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Recorded in the manifest, so every consumer can check it resizes the same way.
RESIZE = "centre-square-crop, bilinear"
CHANNEL_MODES = {1: "L", 3: "RGB"}
# Pillow opens 16-bit PNG/TIFF in these modes; 32-bit integer "I" is read as 16-bit too.
WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
# What Pillow raises for a file that is not an image, or a damaged or truncated one.
UNREADABLE = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError,
              Image.DecompressionBombError)


def load_image(source: str | Path | BinaryIO, size: int, channels: int) -> np.ndarray:
    """Read an image file (or open binary stream) as uint8 (size, size, channels) pixels.

    Args:
        source: a path, or a file object holding the encoded bytes (PNG, JPEG, WebP...).
        size: the side of the square the image is resized to.
        channels: 3 for RGB, 1 for grayscale.

    Raises:
        ValueError: when the file is not an image Pillow can read, or is damaged or
            truncated (the message names the file when ``source`` is a path).
    """
    if channels not in CHANNEL_MODES or size < 1:
        raise ValueError(f"load_image takes channels 1 or 3 and a size of at least 1, got "
                         f"channels={channels}, size={size}.")
    where = str(source) if isinstance(source, str | Path) else "the image"
    try:
        with Image.open(source) as image:
            image.load()  # decode now: a truncated file fails here, inside the try
            return prepare(image, size, channels)
    except UNREADABLE as error:
        if isinstance(error, FileNotFoundError | IsADirectoryError | PermissionError):
            raise ValueError(f"{where} cannot be read ({error.strerror}).") from None
        # Pillow's own words for an unknown format repeat the path: say it once, plainly.
        unknown = isinstance(error, UnidentifiedImageError)
        reason = "unknown format, or damaged" if unknown else str(error) or type(error).__name__
        raise ValueError(f"{where} is not a readable image ({reason}).") from None


def prepare(image: Image.Image, size: int, channels: int) -> np.ndarray:
    """A decoded Pillow image as uint8 (size, size, channels) pixels: steps 1-5 above."""
    upright = ImageOps.exif_transpose(image)
    converted = to_mode(upright, CHANNEL_MODES[channels])
    square = centre_square(converted)
    resized = square.resize((size, size), Image.Resampling.BILINEAR)
    pixels = np.asarray(resized, dtype=np.uint8)
    return pixels.reshape(size, size, channels)


def to_mode(image: Image.Image, mode: str) -> Image.Image:
    """``image`` as 8-bit ``mode`` ("RGB" or "L"), transparency laid over white."""
    if image.mode in WIDE_MODES or image.mode == "F":
        image = _eight_bit(image)
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return image.convert(mode)


def _eight_bit(image: Image.Image) -> Image.Image:
    """A 16-bit (or 32-bit integer) grayscale image scaled to 8 bits; float kept as 0-255."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode != "F":
        values = values / 257.0  # 65535 -> 255: the full 16-bit range onto 8 bits
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))


def centre_square(image: Image.Image) -> Image.Image:
    """The largest centred square of ``image`` (left and top rounded down)."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def image_suffixes() -> frozenset[str]:
    """File name endings Pillow can open (".jpg", ".png", ".webp"...), lower case."""
    return frozenset(suffix.lower() for suffix in Image.registered_extensions())


def is_image_file(path: Path) -> bool:
    """Whether ``path`` is worth opening: a visible file with an image suffix.

    notes.txt, .DS_Store and Thumbs.db are not, and are passed over without a word.
    """
    return (not path.name.startswith(".") and path.suffix.lower() in image_suffixes()
            and path.is_file())
