"""Read and check request bodies before the model sees them.

The body is counted while it arrives, so one above the limit gets a 413 before it is all
read. It is parsed in a worker thread, never on the event loop. Every pixel must be a JSON
number from 0 to 255: strings, booleans, null, 1e400, integers too long to be a pixel and
JSON nested deeper than Python's parser allows are refused with a 400, like malformed JSON.
An instance may instead be an encoded image, TF Serving's ``{"b64": "..."}``, decoded the
one way training decoded its images (images.load_image, at the manifest's size) by a Decoder:
in its own few threads, never on the event loop, each image within the pixel limit.
"""

import asyncio
import base64
import binascii
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from starlette.requests import Request

from .images import ImageTooLarge, load_image, max_pixels

MAX_INSTANCES = 1024  # the exported models' batch range
MAX_DIGITS = 20  # an integer longer than this is no pixel (and Python refuses > 4300)
# Images decoded at once by each worker: each may take up to ~1 GB at the pixel limit
# (images.MAX_PIXELS; measured in fwstart's bench/RESULTS.md).
DECODES_AT_ONCE = 2


class Refused(Exception):
    """A request answered with this status (400 unless said) and message, not predictions."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    too_large = Refused(
        f"The body is larger than the limit of {limit} bytes "
        "(--max-body-bytes); send fewer images per request.",
        413,
    )
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
        raise Refused(
            f"Every instance must be numbers in the shape {shape} "
            "(strings, booleans and null are not pixels)."
        )
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
        raise Refused(
            f"Unknown field(s) in {where}: {', '.join(map(repr, unknown))}; "
            f"it takes {', '.join(sorted(known))}."
        )


class Encoded(list[bytes]):
    """The encoded image files of a request's ``{"b64": ...}`` instances, not yet decoded."""


def instances(body: object, shape: list[int], encoded: bool = False) -> np.ndarray | Encoded:
    """Pixels (N, *shape) from a TF Serving request: {"instances": [image, ...]}, each image
    nested lists of pixels or, with ``encoded``, an image file as {"b64": "..."} (returned
    as Encoded, for a Decoder)."""
    if not isinstance(body, dict) or "instances" not in body:
        raise Refused('The body must be a JSON object with an "instances" list.')
    known_fields(body, V1_FIELDS, "the body")
    images = body["instances"]
    if not isinstance(images, list) or not 1 <= len(images) <= MAX_INSTANCES:
        raise Refused(f'"instances" must be a list of 1 to {MAX_INSTANCES} images.')
    if encoded and any(isinstance(image, dict) for image in images):
        return Encoded(_encoded(image, index) for index, image in enumerate(images))
    return as_pixels(images, shape)


def _encoded(image: object, index: int) -> bytes:
    """One {"b64": "..."} instance's file, or Refused naming it."""
    if not isinstance(image, dict) or set(image) != {"b64"} or not isinstance(image["b64"], str):
        raise Refused(f"Instance {index} must be " + B64_FORM + " like the others.")
    try:
        return base64.b64decode(image["b64"], validate=True)
    except (binascii.Error, ValueError):
        raise Refused(f'Instance {index}\'s "b64" is not valid base64.') from None


class Decoder:
    """Encoded images to float32 pixels in the model's layout, in at most ``at_once``
    threads of its own. A request that gives up (its timeout) leaves at most the image
    being decoded to finish, and that one is bounded by the pixel limit."""

    def __init__(
        self, size: int, channels: int, layout: str, at_once: int = DECODES_AT_ONCE
    ) -> None:
        self.size, self.channels, self.nchw = size, channels, layout == "NCHW"
        self.limit = max_pixels()  # a bad MAX_IMAGE_PIXELS stops the service at start-up
        self._threads = ThreadPoolExecutor(at_once, thread_name_prefix="decode")

    async def __call__(self, images: Encoded, timeout: float) -> np.ndarray:
        """Pixels (N, *shape), or Refused: 400 for a file that is no image, 413 above the
        pixel limit, 504 when not decoded within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        work = asyncio.get_running_loop().run_in_executor(
            self._threads, self._all, images, deadline
        )
        try:
            return await asyncio.wait_for(work, max(0.0, timeout))
        except (asyncio.TimeoutError, _Late):
            raise Refused(
                f"The images were not decoded within {timeout:g} s (--timeout).", 504
            ) from None

    def _all(self, images: Encoded, deadline: float) -> np.ndarray:
        decoded = []
        for index, data in enumerate(images):
            if time.monotonic() > deadline:  # the request has given up: stop here
                raise _Late
            decoded.append(self._one(index, data))
        return np.stack(decoded)

    def _one(self, index: int, data: bytes) -> np.ndarray:
        try:
            pixels = load_image(io.BytesIO(data), self.size, self.channels, self.limit)
        except ImageTooLarge as error:
            raise Refused(
                f"Instance {index} {str(error).removeprefix('the image ')}", 413
            ) from None
        except ValueError as error:
            raise Refused(
                f"Instance {index} is not an image this service reads "
                f"({str(error).removeprefix('the image ')})."
            ) from None
        return (pixels.transpose(2, 0, 1) if self.nchw else pixels).astype(np.float32)


class _Late(Exception):
    """Raised in a decoding thread once its request's deadline has passed."""
