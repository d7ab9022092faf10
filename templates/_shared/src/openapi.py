"""What the OpenAPI document (/openapi.json) says each endpoint takes and answers.

The endpoints read their bodies themselves (with a size limit, in a worker thread), so the
request and response schemas are written here, for clients and API test tools to rely on.
"""

from typing import Any

from .binary import HEADER, MEDIA_TYPE
from .inputs import MAX_INSTANCES
from .open_inference import OUTPUTS

Schema = dict[str, Any]

ERROR: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
REASONS = {
    400: "Malformed request: the message says what is wrong",
    404: "Not a version this service serves: the message names the one it serves",
    408: "The body did not arrive in time (--timeout)",
    413: (
        "The body is larger than --max-body-bytes, or an image has more pixels than "
        "MAX_IMAGE_PIXELS"
    ),
    500: "Internal error",
    503: "The model is not ready",
    504: "The images were not decoded, or the model did not answer, in time (--timeout)",
}
HEALTHZ: Schema = {"type": "object", "properties": {"status": {"const": "ok"}}}
LIVE: Schema = {"type": "object", "properties": {"live": {"const": True}}}
FLOATS: Schema = {"type": "array", "items": {"type": "number"}}
LABELS: Schema = {"type": "array", "items": {"type": "string"}}
STATUS: Schema = {
    "type": "object",
    "required": ["model_version_status"],
    "properties": {"model_version_status": {"type": "array"}},
}
TENSOR_META: Schema = {"type": "object", "required": ["name", "datatype", "shape"]}
METADATA: Schema = {
    "type": "object",
    "required": ["name", "versions", "platform", "inputs", "outputs"],
    "properties": {
        "inputs": {"type": "array", "items": TENSOR_META},
        "outputs": {"type": "array", "items": TENSOR_META},
        "classes": LABELS,  # the label of each logits column
    },
}
SERVER_METADATA: Schema = {
    "type": "object",
    "required": ["name", "version", "extensions"],
    "properties": {"extensions": LABELS},
}
VERSION_PARAMETER = {
    "name": "version",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The version served (the metadata's versions); another answers 404.",
}


def _json(description: str, schema: Schema) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def errors(*statuses: int) -> dict:
    """Response objects for these error statuses: each a JSON {"error": message}."""
    return {status: _json(REASONS[status], ERROR) for status in statuses}


def answer(description: str, schema: Schema) -> dict:
    """The responses of an endpoint that always answers 200 with this JSON."""
    return {200: _json(description, schema)}


READY = {
    200: _json(
        "Loaded and warmed up", {"type": "object", "properties": {"ready": {"const": True}}}
    ),
    **errors(503),
}
METRICS = {
    200: {
        "description": "Prometheus text exposition format",
        "content": {"text/plain; version=0.0.4; charset=utf-8": {"schema": {"type": "string"}}},
    }
}
PREDICT_ERRORS = errors(400, 408, 413, 500, 503, 504)


def versioned(route: dict) -> dict:
    """A route's arguments for the same endpoint under .../versions/{version}."""
    extra = {**route.get("openapi_extra", {}), "parameters": [VERSION_PARAMETER]}
    return {**route, "openapi_extra": extra, "responses": {**route["responses"], **errors(404)}}


# Triton's parameters: strings, booleans and 64-bit integers.
PARAMETERS: Schema = {
    "type": "object",
    "additionalProperties": {
        "anyOf": [
            {"type": "string"},
            {"type": "boolean"},
            {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
        ]
    },
}


def _parameters(**known: Schema | bool) -> Schema:
    """Triton's parameters, these ones of the binary tensor data extension among them."""
    return {**PARAMETERS, "properties": known}


def _image(shape: list[int]) -> Schema:
    schema: Schema = {"type": "number", "minimum": 0, "maximum": 255}
    for size in reversed(shape):
        schema = {"type": "array", "items": schema, "minItems": size, "maxItems": size}
    return schema


def _strict(required: list[str], properties: dict) -> Schema:
    """An object of these properties and no others (the service refuses unknown fields)."""
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }


def _body(schema: Schema) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def predict_v1(shape: list[int]) -> dict:
    """TF Serving's predict: the request's images and the response's logits."""
    request = _strict(
        ["instances"],
        {
            "instances": {
                "type": "array",
                "items": _image(shape),
                "minItems": 1,
                "maxItems": MAX_INSTANCES,
            }
        },
    )
    response = {
        "type": "object",
        "required": ["predictions", "labels"],
        "properties": {"predictions": {"type": "array", "items": FLOATS}, "labels": LABELS},
    }
    return {
        "openapi_extra": _body(request),
        "responses": {
            200: _json("Logits, one row per instance, and each one's label", response),
            **PREDICT_ERRORS,
        },
    }


BINARY_REQUEST = (
    f"JSON as application/json, or the binary tensor data extension: with the {HEADER} "
    'header, the JSON that long, the input giving "binary_data_size" in its parameters '
    'instead of "data", then that many bytes of little-endian FP32 pixels.'
)
BINARY_ANSWER = (
    f"The outputs as JSON, or, those asked for as binary, as application/octet-stream: the "
    f'JSON ({HEADER} bytes) with "binary_data_size" in their parameters instead of '
    '"data", then their bytes in order: FP32 little-endian; a BYTES label is its length in '
    "4 bytes (little-endian), then its UTF-8."
)


def infer_v2(name: str, shape: list[int]) -> dict:
    """The Open Inference Protocol's infer: one FP32 input tensor; the logits and labels."""
    dims = {
        "type": "array",
        "minItems": len(shape) + 1,
        "maxItems": len(shape) + 1,
        "prefixItems": [
            {"type": "integer", "minimum": 1, "maximum": MAX_INSTANCES},
            *({"const": size} for size in shape),
        ],
    }
    # N times the image's numbers, row-major (JSON Schema cannot tie its length to "shape")
    data = {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 255}}
    tensor = _strict(
        ["name", "datatype", "shape", "data"],
        {
            "name": {"const": name},
            "datatype": {"const": "FP32"},
            "shape": dims,
            "data": data,
            "parameters": _parameters(binary_data_size=False),
        },
    )  # JSON: the data is in "data"
    wanted = _strict(
        ["name"],
        {
            "name": {"enum": list(OUTPUTS)},
            "parameters": _parameters(binary_data={"type": "boolean"}),
        },
    )
    request = _strict(
        ["inputs"],
        {
            "id": {"type": "string"},
            "parameters": _parameters(binary_data_output={"type": "boolean"}),
            "inputs": {"type": "array", "items": tensor, "minItems": 1, "maxItems": 1},
            "outputs": {"type": "array", "items": wanted},
        },
    )
    sizes = _parameters(binary_data_size={"type": "integer", "minimum": 0})
    output = {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": {"enum": list(OUTPUTS)},
            "parameters": sizes,
            "data": {"type": "array", "items": {"type": ["number", "string"]}},
        },
    }
    response = {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {"outputs": {"type": "array", "items": output}},
    }
    answered = _json(
        "The logits (FP32 [N, classes]) and each row's label (BYTES [N]), or "
        "those named; data flat in row-major order. " + BINARY_ANSWER,
        response,
    )
    answered["content"][MEDIA_TYPE] = {"schema": {"type": "string", "format": "binary"}}
    answered["headers"] = {
        HEADER: {
            "schema": {"type": "integer", "minimum": 0},
            "description": "The JSON's length, in a binary answer",
        }
    }
    body = _body(request)
    body["requestBody"]["description"] = BINARY_REQUEST
    body["requestBody"]["content"][MEDIA_TYPE] = {"schema": {"type": "string", "format": "binary"}}
    return {"openapi_extra": body, "responses": {200: answered, **PREDICT_ERRORS}}
