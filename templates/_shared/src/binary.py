"""The Open Inference Protocol's binary tensor data extension (Triton's and KServe's), which
tritonclient uses unless told otherwise: a body is a JSON header followed by raw tensor bytes.

The JSON header is Inference-Header-Content-Length bytes long. Each tensor whose parameters
give "binary_data_size" has that many bytes after it, in the order of the tensors in the JSON:
little-endian, row-major; a BYTES element is its length (4 bytes, little-endian), then its
bytes. An output is answered this way when the request asks: "binary_data": true in the
output's parameters, or "binary_data_output": true in the request's for every output.
"""

import json
import struct

import numpy as np
from starlette.responses import Response

from .inputs import Refused

EXTENSION = "binary_tensor_data"  # its name in the server metadata's "extensions"
HEADER = "Inference-Header-Content-Length"
MEDIA_TYPE = "application/octet-stream"
KINDS = {bool: "true or false", int: "an integer"}


def split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary data after it (none without the header)."""
    if header_length is None:
        return body, b""
    length = header_length.strip()
    if not (length.isascii() and length.isdigit()) or int(length) > len(body):
        raise Refused(
            f"The {HEADER} header must be the length in bytes of the body's JSON, "
            f"from 0 to the body's {len(body)}; got {header_length!r}."
        )
    return body[: int(length)], body[int(length) :]


def parameter(tensor: dict, key: str, kind: type, where: str) -> object:
    """The parameter ``key`` of a request or tensor if given (None if not), of type ``kind``;
    anything else is Refused."""
    parameters = tensor.get("parameters", {})
    if not isinstance(parameters, dict):
        raise Refused(f'The "parameters" of {where} must be an object.')
    value = parameters.get(key)
    if value is not None and (type(value) is not kind or kind is int and value < 0):
        raise Refused(
            f'"{key}" in the parameters of {where} must be {KINDS[kind]}'
            f"{' from 0' if kind is int else ''}, got {value!r}."
        )
    return value


def floats(data: bytes, count: int) -> np.ndarray:
    """``count`` FP32 numbers from their little-endian bytes, or Refused."""
    if len(data) != 4 * count:
        raise Refused(
            f"The input's binary data must be {4 * count} bytes ({count} FP32 "
            f"numbers of 4 bytes), got {len(data)}."
        )
    return np.frombuffer(data, dtype="<f4")


def encode(values: np.ndarray | list[str]) -> bytes:
    """A tensor's binary data: FP32 numbers, or BYTES elements from strings (UTF-8)."""
    if isinstance(values, np.ndarray):
        return np.ascontiguousarray(values, dtype="<f4").tobytes()
    elements = [value.encode() for value in values]
    return b"".join(struct.pack("<I", len(element)) + element for element in elements)


def response(document: dict, tensors: list[bytes]) -> Response:
    """The JSON document followed by the tensors' binary data, its length in the header."""
    header = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(
        header + b"".join(tensors), media_type=MEDIA_TYPE, headers={HEADER: str(len(header))}
    )
