"""Read and check request bodies before the model sees them.

The body is counted while it arrives, so one above the limit gets a 413 before it is all
read. It is parsed in a worker thread, never on the event loop. Every pixel must be a JSON
number from 0 to 255: strings, booleans, null, 1e400, integers too long to be a pixel and
JSON nested deeper than Python's parser allows are refused with a 400, like malformed JSON.
An instance may instead be an encoded image, TF Serving's ``{"b64": "..."}``, decoded the
one way training decoded its images (images.load_image, at the manifest's size).
"""

import base64
import binascii
import io
import json
from collections.abc import Callable

import numpy as np
from starlette.requests import Request

from .images import load_image

MAX_INSTANCES = 1024  # the exported models' batch range
MAX_DIGITS = 20  # an integer longer than this is no pixel (and Python refuses > 4300)


class Refused(Exception):
    """A request answered with this status (400 unless said) and message, not predictions."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    too_large = Refused(f"The body is larger than the limit of {limit} bytes "
                           "(--max-body-bytes); send fewer images per request.", 413)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise Refused(f"The integer {text[:12]}… has too many digits to be a pixel.")
    return int(text)


def _constant(text: str) -> float:
    raise Refused(f"{text} is not a pixel value: use numbers from 0 to 255.")


def parse_json(body: bytes) -> object:
    """The JSON document in ``body``, or Refused."""
    try:
        return json.loads(body, parse_int=_integer, parse_constant=_constant)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Refused("The body is not valid JSON.") from None
    except RecursionError:
        raise Refused("The body is nested too deeply to hold images.") from None


def as_pixels(values: object, shape: list[int]) -> np.ndarray:
    """float32 pixels (N, *shape) from nested JSON lists, or Refused."""
    grid = np.asarray(values, dtype=object)
    kinds = {type(value) for value in grid.flat}
    if list in kinds:  # ragged: numpy stops at the level where the lengths differ
        raise Refused(f"Every instance must be numbers in the shape {shape}.")
    if list(grid.shape[1:]) != shape:
        raise Refused(f"Each instance must have the shape {shape}, got {list(grid.shape[1:])}.")
    if not kinds <= {int, float}:
        raise Refused(f"Every instance must be numbers in the shape {shape} "
                         "(strings, booleans and null are not pixels).")
    pixels = grid.astype(np.float64)
    if not np.isfinite(pixels).all() or pixels.min() < 0 or pixels.max() > 255:
        raise Refused("Pixel values must be numbers from 0 to 255.")
    return pixels.astype(np.float32)


V1_FIELDS = {"instances"}
B64_FORM = '{"b64": "<base64 of an image file>"}'


def known_fields(given: dict, known: set[str], where: str) -> None:
    """Refused if ``given`` has a field not in ``known``, naming it and the known ones."""
    unknown = sorted(set(given) - known)
    if unknown:
        raise Refused(f"Unknown field(s) in {where}: {', '.join(map(repr, unknown))}; "
                      f"it takes {', '.join(sorted(known))}.")


def instances(body: object, shape: list[int],
              decode: Callable[[bytes], np.ndarray] | None = None) -> np.ndarray:
    """Pixels (N, *shape) from a TF Serving request: {"instances": [image, ...]}, each image
    nested lists of pixels or, with ``decode``, an encoded file as {"b64": "..."}."""
    if not isinstance(body, dict) or "instances" not in body:
        raise Refused('The body must be a JSON object with an "instances" list.')
    known_fields(body, V1_FIELDS, "the body")
    images = body["instances"]
    if not isinstance(images, list) or not 1 <= len(images) <= MAX_INSTANCES:
        raise Refused(f'"instances" must be a list of 1 to {MAX_INSTANCES} images.')
    if decode and any(isinstance(image, dict) for image in images):
        return np.stack([_encoded(image, index, decode) for index, image in enumerate(images)])
    return as_pixels(images, shape)


def image_decoder(size: int, channels: int, layout: str) -> Callable[[bytes], np.ndarray]:
    """A function from an encoded image to float32 pixels in the model's layout."""
    def decode(data: bytes) -> np.ndarray:
        pixels = load_image(io.BytesIO(data), size, channels)
        return (pixels.transpose(2, 0, 1) if layout == "NCHW" else pixels).astype(np.float32)
    return decode


def _encoded(image: object, index: int, decode: Callable[[bytes], np.ndarray]) -> np.ndarray:
    """One {"b64": "..."} instance as pixels, or Refused naming it."""
    if not isinstance(image, dict) or set(image) != {"b64"} or not isinstance(image["b64"], str):
        raise Refused(f"Instance {index} must be " + B64_FORM + " like the others.")
    try:
        data = base64.b64decode(image["b64"], validate=True)
    except (binascii.Error, ValueError):
        raise Refused(f'Instance {index}\'s "b64" is not valid base64.') from None
    try:
        return decode(data)
    except ValueError as error:
        raise Refused(f"Instance {index} is not an image this service reads "
                      f"({str(error).removeprefix('the image ')}).") from None
