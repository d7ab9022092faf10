"""The Open Inference Protocol's infer (KServe v2, Triton): the model's one FP32 input in; its
logits and each row's label out (both unless the request names some), each as JSON or as
binary tensor data (binary.py), as the request asks."""

import math
from dataclasses import dataclass

import numpy as np
from starlette.responses import JSONResponse, Response

from . import binary
from .inputs import MAX_INSTANCES, Refused, as_pixels, known_fields, parse_json

OUTPUTS = {"logits": "FP32", "label": "BYTES"}  # each output's datatype, in answer order
REQUEST_FIELDS = {"id", "inputs", "outputs", "parameters"}
TENSOR_FIELDS = {"name", "shape", "datatype", "data", "parameters"}


@dataclass(frozen=True)
class Inference:
    """A checked infer request: its pixels, and each output to answer, binary or not."""

    pixels: np.ndarray
    outputs: tuple[tuple[str, bool], ...]
    id: str | None = None


def read(body: bytes, header_length: str | None, name: str, shape: list[int]) -> Inference:
    """The request in ``body`` (its JSON header that long, if given), or Refused."""
    head, tail = binary.split(body, header_length)
    request = parse_json(head)
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise Refused('The body must be a JSON object with an "inputs" list.')
    if len(request["inputs"]) != 1 or not isinstance(request["inputs"][0], dict):
        raise Refused(f'"inputs" must hold one tensor, "{name}".')
    known_fields(request, REQUEST_FIELDS, "the body")
    if not isinstance(request.get("id", ""), str):
        raise Refused('The request\'s "id" must be a string.')
    given = request["inputs"][0]
    known_fields(given, TENSOR_FIELDS, "the input")
    for key, value in {"name": name, "datatype": "FP32"}.items():
        if given.get(key) != value:
            raise Refused(f'The input\'s "{key}" must be "{value}", got {given.get(key)!r}.')
    dims = _dims(given.get("shape"), shape)
    return Inference(_pixels(given, tail, dims), _outputs(request), request.get("id"))


def _dims(dims: object, shape: list[int]) -> list[int]:
    """The input's shape, [N, *shape]: whole numbers (2.0 too, as JSON Schema's integers
    include it), never booleans."""
    if isinstance(dims, list):
        dims = [int(size) if type(size) is float and size.is_integer() else size for size in dims]
    if (
        not isinstance(dims, list)
        or any(type(size) is not int for size in dims)
        or len(dims) != len(shape) + 1
        or dims[1:] != shape
        or not 1 <= dims[0] <= MAX_INSTANCES
    ):
        raise Refused(
            f'The input\'s "shape" must be [N, {", ".join(map(str, shape))}] '
            f"with N from 1 to {MAX_INSTANCES}, got {dims!r}."
        )
    return dims


def _pixels(given: dict, tail: bytes, dims: list[int]) -> np.ndarray:
    """The input's numbers: its "data", or its binary data after the JSON."""
    size = binary.parameter(given, "binary_data_size", int, "the input")
    if size is None:
        if tail:
            raise Refused(
                f"{len(tail)} bytes follow the body's JSON, but the input gives no "
                '"binary_data_size" in its parameters.'
            )
        data = np.asarray(given.get("data"), dtype=object).ravel()
        if data.size != math.prod(dims):
            raise Refused(
                f'The input\'s "data" must hold {math.prod(dims)} numbers '
                f"(shape {dims}), got {data.size}."
            )
        return as_pixels(data.reshape(dims), dims[1:])
    if "data" in given:
        raise Refused(
            'The input gives both "data" and "binary_data_size": send its numbers one way.'
        )
    if size != len(tail):
        raise Refused(
            f'The input\'s "binary_data_size" is {size}, but {len(tail)} bytes '
            "follow the body's JSON."
        )
    pixels = binary.floats(tail, math.prod(dims)).reshape(dims)
    if not np.isfinite(pixels).all() or pixels.min() < 0 or pixels.max() > 255:
        raise Refused("Pixel values must be numbers from 0 to 255.")
    return pixels.astype(np.float32)  # a copy: the body's bytes are read-only


def _outputs(request: dict) -> tuple[tuple[str, bool], ...]:
    """The outputs to answer, in order, and whether each is binary; every output when the
    request names none. A name asked for twice is answered once, as first asked."""
    every = binary.parameter(request, "binary_data_output", bool, "the request") is True
    wanted = request.get("outputs")
    if not wanted:
        return tuple((name, every) for name in OUTPUTS)
    if not isinstance(wanted, list):
        raise Refused('"outputs" must be a list of objects with a "name".')
    chosen: dict[str, bool] = {}
    for output in wanted:
        if not isinstance(output, dict) or not isinstance(output.get("name"), str):
            raise Refused('Each of "outputs" must be an object with a "name".')
        known_fields(output, {"name", "parameters"}, "an output")
        name = output["name"]
        if name not in OUTPUTS:
            raise Refused(
                f"Unknown output {name!r}: this model answers {' and '.join(map(repr, OUTPUTS))}."
            )
        own = binary.parameter(output, "binary_data", bool, f"the output {name!r}")
        chosen.setdefault(name, every if own is None else own is True)
    return tuple(chosen.items())


def answer(
    model: str, version: str, inference: Inference, logits: np.ndarray, labels: list[str]
) -> Response:
    """The outputs the request asked for: JSON, or with binary_data, JSON then their bytes."""
    values: dict[str, np.ndarray | list[str]] = {"logits": logits, "label": labels}
    outputs, tensors = [], []
    for name, as_binary in inference.outputs:
        output: dict = {
            "name": name,
            "datatype": OUTPUTS[name],
            "shape": list(np.shape(values[name])),
        }
        if as_binary:
            tensors.append(binary.encode(values[name]))
            output["parameters"] = {"binary_data_size": len(tensors[-1])}
        else:
            output["data"] = logits.ravel().tolist() if name == "logits" else labels
        outputs.append(output)
    document = {"model_name": model, "model_version": version, "outputs": outputs}
    if inference.id is not None:
        document["id"] = inference.id
    return binary.response(document, tensors) if tensors else JSONResponse(document)
