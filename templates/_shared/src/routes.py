"""The service's endpoints: TF Serving's REST API (KServe v1), the Open Inference Protocol
(KServe v2, Triton; its binary tensor data extension too), health and metrics. Bodies are read
with a size limit and a deadline, and parsed in a worker thread (a small one on the event loop);
encoded images are decoded by a Decoder's own threads, never on the event loop; the model runs
through the batcher. Each endpoint of a model also answers under the version it serves, and
each answer names the version that gave it (v2's model_version, v1's Model-Version header)."""

import asyncio
import functools
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import binary, open_inference, openapi
from .inputs import Decoder, Encoded, Refused, instances, parse_json, read_body
from .model_server import Answer, ServedModel
from .monitoring import Metrics, observe
from .runtimes import SERVER_PLATFORM

INLINE_BODY_BYTES = 16 * 1024  # parsed on the event loop up to this size (~0.1 ms)
VERSION = "/versions/{version}"  # in a path: the version asked for (a path parameter)
VERSION_HEADER = "Model-Version"  # v1's answers: the version that answered
Parsed = TypeVar("Parsed")


def add(app: FastAPI, model: ServedModel, metrics: Metrics) -> None:
    """Add every endpoint of the service for this model."""
    _add_health(app, model, metrics)
    _add_v1(app, model, metrics)
    _add_v2(app, model, metrics)


async def _answer(
    request: Request,
    model: ServedModel,
    metrics: Metrics,
    parse: Callable[[bytes], tuple[np.ndarray | Encoded, Parsed]],
    decode: Decoder | None = None,
) -> tuple[Answer, Parsed]:
    """The model's answer for the pixels that ``parse`` finds in the body (the logits, each
    row's label, the version that answered), and what else it found there."""
    started = time.perf_counter()
    try:
        body = await asyncio.wait_for(read_body(request, model.body_limit), model.settings.timeout)
    except asyncio.TimeoutError:
        late = f"The body did not arrive within {model.settings.timeout:g} s (--timeout)."
        raise Refused(late, 408) from None
    if len(body) <= INLINE_BODY_BYTES:  # a few images: a thread hop would cost more
        pixels, parsed = parse(body)
    else:
        pixels, parsed = await asyncio.to_thread(parse, body)
    if isinstance(pixels, Encoded) and decode:  # within what is left of the timeout
        pixels = await decode(pixels, model.settings.timeout - (time.perf_counter() - started))
    answer = await model.predict(pixels)
    observe(metrics, started, answer.labels{{ ", pixels" if cookiecutter.monitoring else "" }})
    return answer._replace(logits=answer.logits.round(6)), parsed


def _served(model: ServedModel, request: Request) -> None:
    """Refused with 404 when the path names a version other than the one served."""
    version = request.path_params.get("version")
    if version is not None and version != model.version:
        raise Refused(
            f"{model.name} has no version {version!r} here: this service serves "
            f"version {model.version} (GET /v2/models/{model.name} lists it).",
            404,
        )


def _ready(model: ServedModel) -> JSONResponse:
    if model.ready:
        return JSONResponse({"ready": True})
    stopping = (
        "The service is stopping."
        if model.stopping
        else "The model is loading."
        if not model.loaded
        else "Other workers are still loading the model."
    )
    return JSONResponse({"ready": False, "error": model.failure or stopping}, 503)


def _add_health(app: FastAPI, model: ServedModel, metrics: Metrics) -> None:
    @app.get("/healthz", responses=openapi.answer("Alive", openapi.HEALTHZ))
    async def healthz() -> JSONResponse:
{%- if cookiecutter.registry %}
        return JSONResponse({"status": "ok", "model": model.name, "version": model.version})
{%- else %}
        return JSONResponse({"status": "ok"})
{%- endif %}

    @app.get("/v2/health/live", responses=openapi.answer("Alive", openapi.LIVE))
    async def live() -> JSONResponse:
        return JSONResponse({"live": True})

    @app.get("/v2/health/ready", responses=openapi.READY)
    @app.get(f"/v2/models/{model.name}/ready", responses=openapi.READY)
    @app.get(
        f"/v2/models/{model.name}{VERSION}/ready", **openapi.versioned({"responses": openapi.READY})
    )
    async def ready(request: Request) -> JSONResponse:
        _served(model, request)
        return _ready(model)

    @app.get("/metrics", response_class=Response, responses=openapi.METRICS)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.exposed), media_type=CONTENT_TYPE_LATEST)


def _add_v1(app: FastAPI, model: ServedModel, metrics: Metrics) -> None:
    layout = model.manifest["input"]["layout"]  # the model's shape: (C, H, W) or (H, W, C)
    nchw = layout == "NCHW"
    channels, size = model.shape[0 if nchw else 2], model.shape[1 if nchw else 0]
    decode = Decoder(size, channels, layout)

    def parse(body: bytes) -> tuple[np.ndarray | Encoded, None]:
        return instances(parse_json(body), model.shape, encoded=True), None

    route = openapi.predict_v1(model.shape)

    @app.post(f"/v1/models/{model.name}:predict", **route)
    @app.post(f"/v1/models/{model.name}{VERSION}:predict", **openapi.versioned(route))
    @app.post("/predict", **route)
    async def predict(request: Request) -> JSONResponse:
        _served(model, request)
        answer, _ = await _answer(request, model, metrics, parse, decode)
        return JSONResponse(
            {"predictions": answer.logits.tolist(), "labels": answer.labels},
            headers={VERSION_HEADER: answer.version},  # TF Serving's body has no place for it
        )

    status_route = {"responses": openapi.answer("Model status", openapi.STATUS)}

    @app.get(f"/v1/models/{model.name}", **status_route)
    @app.get(f"/v1/models/{model.name}{VERSION}", **openapi.versioned(status_route))
    async def status(request: Request) -> JSONResponse:
        _served(model, request)
        state = "AVAILABLE" if model.ready else "UNLOADING" if model.stopping else "LOADING"
        return JSONResponse(
            {
                "model_version_status": [
                    {
                        "version": model.version,
                        "state": state,
                        "status": {"error_code": "OK", "error_message": model.failure},
                    }
                ]
            }
        )


def _add_v2(app: FastAPI, model: ServedModel, metrics: Metrics) -> None:
    name = model.manifest["input"]["name"]

    def parse(body: bytes, header: str | None) -> tuple[np.ndarray, open_inference.Inference]:
        inference = open_inference.read(body, header, name, model.shape)
        return inference.pixels, inference

    @app.get("/v2", responses=openapi.answer("Server metadata", openapi.SERVER_METADATA))
    async def server_metadata() -> JSONResponse:
        return JSONResponse(
            {"name": model.name, "version": model.version, "extensions": [binary.EXTENSION]}
        )

    metadata_route = {"responses": openapi.answer("Metadata", openapi.METADATA)}

    @app.get(f"/v2/models/{model.name}", **metadata_route)
    @app.get(f"/v2/models/{model.name}{VERSION}", **openapi.versioned(metadata_route))
    async def metadata(request: Request) -> JSONResponse:
        _served(model, request)
        return JSONResponse(
            {
                "name": model.name,
                "versions": [model.version],
                "platform": SERVER_PLATFORM,
                "inputs": [{"name": name, "datatype": "FP32", "shape": [-1, *model.shape]}],
                "outputs": [
                    {"name": "logits", "datatype": "FP32", "shape": [-1, len(model.classes)]},
                    {"name": "label", "datatype": "BYTES", "shape": [-1]},
                ],
                "classes": model.classes,  # the label of each column of the logits
            }
        )

    route = openapi.infer_v2(name, model.shape)

    @app.post(f"/v2/models/{model.name}/infer", **route)
    @app.post(f"/v2/models/{model.name}{VERSION}/infer", **openapi.versioned(route))
    async def infer(request: Request) -> Response:
        _served(model, request)
        parse_this = functools.partial(parse, header=request.headers.get(binary.HEADER))
        answer, inference = await _answer(request, model, metrics, parse_this)
        return open_inference.answer(
            model.name, answer.version, inference, answer.logits, answer.labels
        )
