"""One photo in, one array out: the preprocessing every part of the project shares.

Training, predict, the service (its ``{"b64": ...}`` instances), deploy/edge/run.py and the
web page (its JavaScript twin) all turn a picture into pixels this one way, with the
``image_size`` and ``channels`` recorded in artifacts/manifest.json:

1. the EXIF orientation is applied (a phone's portrait photo stands upright);
2. the centre square is cut out: side = min(w, h), left = (w - side) // 2,
   top = (h - side) // 2;
3. transparency is laid over white, then the picture becomes RGB (channels 3) or grayscale
   (channels 1, Pillow's ITU-R 601-2 luma: L = (19595 R + 38470 G + 7471 B + 32768) >> 16);
   16-bit pictures are scaled to 8 bits (round(v / 257)), CMYK and palettes converted;
4. the square is resized to ``size`` x ``size`` with Pillow's BILINEAR filter (a triangle
   filter whose support widens with the reduction, so shrinking averages, never skips);
5. the result is uint8 (size, size, channels); the model takes these raw 0-255 pixels.

A picture of more than ``max_pixels()`` pixels (width x height, read from its header before
anything is decoded; only the first frame of an animation or a multi-page file is ever
decoded, so the other frames cost nothing) is refused with ImageTooLarge: a few KB of PNG or
WebP can hold 13000 x 13000 pixels, gigabytes once decoded. A JPEG above the limit is
decoded at 1/2, 1/4 or 1/8 of its size (libjpeg's DCT scaling, Pillow's ``draft``) when
that fits the limit and keeps the shorter side at least ``size``. Only the formats in
FORMATS are opened.
"""

import os
import re
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Recorded in the manifest, so every consumer can check it resizes the same way.
RESIZE = "centre-square-crop, bilinear"
CHANNEL_MODES = {1: "L", 3: "RGB"}
# Pillow opens 16-bit PNG/TIFF in these modes; 32-bit integer "I" is read as 16-bit too.
WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
# The formats the README names; Pillow's other decoders are never tried.
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF")
# The largest picture decoded, in pixels: at most ~1 GB of memory per decode, measured
# (bench/RESULTS.md in fwstart), and room for 64-megapixel camera photos (9248 x 6936).
MAX_PIXELS = 70_000_000
# Set it to another whole number of pixels to change the limit for every command.
MAX_PIXELS_VARIABLE = "MAX_IMAGE_PIXELS"
# Pillow warns of a decompression bomb above its own limit: here that is an error.
warnings.simplefilter("error", Image.DecompressionBombWarning)
# What Pillow raises for a file that is not an image, or a damaged or truncated one.
UNREADABLE = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


class ImageTooLarge(ValueError):
    """A picture with more pixels than the limit: refused before it is decoded."""


def max_pixels() -> int:
    """The limit: MAX_IMAGE_PIXELS from the environment, or MAX_PIXELS.

    Raises:
        ValueError: when the variable is not a whole number of at least 1.
    """
    text = os.environ.get(MAX_PIXELS_VARIABLE, "").strip()
    if not text:
        return MAX_PIXELS
    if not text.isdigit() or int(text) < 1:
        raise ValueError(
            f"{MAX_PIXELS_VARIABLE}={text!r} must be a whole number of pixels "
            f"of at least 1 (default {MAX_PIXELS})."
        )
    return int(text)


def load_image(
    source: str | Path | BinaryIO, size: int, channels: int, limit: int | None = None
) -> np.ndarray:
    """Read an image file (or open binary stream) as uint8 (size, size, channels) pixels.

    Args:
        source: a path, or a file object holding the encoded bytes (PNG, JPEG, WebP...).
        size: the side of the square the image is resized to.
        channels: 3 for RGB, 1 for grayscale.
        limit: the most pixels decoded (default: max_pixels()).

    Raises:
        ImageTooLarge: when the picture holds more than ``limit`` pixels.
        ValueError: when the file is not an image Pillow can read, or is damaged or
            truncated (the message names the file when ``source`` is a path).
    """
    if channels not in CHANNEL_MODES or size < 1:
        raise ValueError(
            f"load_image takes channels 1 or 3 and a size of at least 1, got "
            f"channels={channels}, size={size}."
        )
    limit = limit or max_pixels()
    where = str(source) if isinstance(source, str | Path) else "the image"
    # Pillow's own check (a warning, an error here) must not refuse what the limit allows: a
    # JPEG drafted to 1/8 of its side, 64 times the limit; _within then checks every image.
    Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, 64 * limit)
    try:
        with Image.open(source, formats=FORMATS) as image:
            _within(image, size, limit, where)
            image.load()  # decode now: a truncated file fails here, inside the try
            square = upright_square(image)
            image.close()  # frees the decoded picture (leaving "with" closes only the file)
        return square_pixels(square, size, channels)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        counted = re.search(r"\((\d+) pixels\)", str(error))  # Pillow's "Image size (N pixels)"
        pixels = f"{int(counted[1]):,} pixels" if counted else "more pixels"
        raise ImageTooLarge(f"{where} has {pixels}, {_too_large(limit)}") from None
    except UNREADABLE as error:
        if isinstance(error, ImageTooLarge):
            raise
        if isinstance(error, FileNotFoundError | IsADirectoryError | PermissionError):
            raise ValueError(f"{where} cannot be read ({error.strerror}).") from None
        # Pillow's own words for an unknown format repeat the path: say it once, plainly.
        unknown = isinstance(error, UnidentifiedImageError)
        reason = "unknown format, or damaged" if unknown else str(error) or type(error).__name__
        raise ValueError(f"{where} is not a readable image ({reason}).") from None


def _too_large(limit: int) -> str:
    return (
        f"more than the limit of {limit:,} ({MAX_PIXELS_VARIABLE}): make it smaller, or "
        "raise the limit."
    )


def _within(image: Image.Image, size: int, limit: int, where: str) -> None:
    """Refuse ``image`` when it holds more than ``limit`` pixels, before it is decoded; a
    JPEG is first drafted down (1/2, 1/4, 1/8) when that brings it under the limit."""
    width, height = image.size
    if width * height > limit and image.format in ("JPEG", "MPO"):
        for scale in (2, 4, 8):
            if (
                -(-width // scale) * -(-height // scale) <= limit
                and min(width, height) // scale >= size
            ):
                image.draft(None, (width // scale, height // scale))
                break
    if image.width * image.height > limit:
        raise ImageTooLarge(
            f"{where} is {width} x {height} = {width * height:,} pixels, {_too_large(limit)}"
        )


def prepare(image: Image.Image, size: int, channels: int) -> np.ndarray:
    """A decoded Pillow image as uint8 (size, size, channels) pixels: steps 1-5 above."""
    return square_pixels(upright_square(image), size, channels)


def upright_square(image: Image.Image) -> Image.Image:
    """Steps 1-2: ``image`` turned upright (in place: no copy), then its centre square (a
    copy). Cut before it is converted, the copies that conversion makes are smaller."""
    ImageOps.exif_transpose(image, in_place=True)
    return centre_square(image)


def square_pixels(square: Image.Image, size: int, channels: int) -> np.ndarray:
    """Steps 3-5: the square converted, resized and returned as uint8 pixels."""
    converted = to_mode(square, CHANNEL_MODES[channels])
    resized = converted.resize((size, size), Image.Resampling.BILINEAR)
    pixels = np.asarray(resized, dtype=np.uint8)
    return pixels.reshape(size, size, channels)


def to_mode(image: Image.Image, mode: str) -> Image.Image:
    """``image`` as 8-bit ``mode`` ("RGB" or "L"), transparency laid over white."""
    if image.mode in WIDE_MODES or image.mode == "F":
        image = _eight_bit(image)
    if image.has_transparency_data:
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return image if image.mode == mode else image.convert(mode)


def _eight_bit(image: Image.Image) -> Image.Image:
    """A 16-bit (or 32-bit integer) grayscale image scaled to 8 bits; float kept as 0-255."""
    # float32 in place: 4 bytes a pixel; v / 257 is never within float32's error of a .5
    values = np.asarray(image).astype(np.float32)
    if image.mode != "F":
        values /= 257.0  # 65535 -> 255: the full 16-bit range onto 8 bits
    np.clip(np.rint(values, out=values), 0, 255, out=values)
    return Image.fromarray(values.astype(np.uint8))


def centre_square(image: Image.Image) -> Image.Image:
    """The largest centred square of ``image`` (left and top rounded down)."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return image.crop((left, top, left + side, top + side))


def image_suffixes() -> frozenset[str]:
    """File name endings of the FORMATS (".jpg", ".png", ".webp"...), lower case."""
    return frozenset(
        suffix.lower()
        for suffix, format in Image.registered_extensions().items()
        if format in FORMATS
    )


def is_image_file(path: Path) -> bool:
    """Whether ``path`` is worth opening: a visible file with an image suffix.

    notes.txt, .DS_Store and Thumbs.db are not, and are passed over without a word.
    """
    return (
        not path.name.startswith(".") and path.suffix.lower() in image_suffixes() and path.is_file()
    )
