"""The service's endpoints: TF Serving's REST API (KServe v1), the Open Inference Protocol
(KServe v2, Triton), health and metrics. Bodies are read with a size limit and a deadline,
and parsed in a worker thread (a small one on the event loop); encoded images are decoded by
a Decoder's own threads, never on the event loop; the model runs through the batcher."""

import asyncio
import time
from collections.abc import Callable

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import openapi
from .inputs import Decoder, Encoded, Refused, instances, parse_json, read_body, tensor
from .model_server import ServedModel
from .monitoring import Metrics, observe
from .runtimes import SERVER_PLATFORM

INLINE_BODY_BYTES = 16 * 1024  # parsed on the event loop up to this size (~0.1 ms)


def add(app: FastAPI, model: ServedModel, metrics: Metrics) -> None:
    """Add every endpoint of the service for this model."""
    _add_health(app, model, metrics)
    _add_v1(app, model, metrics)
    _add_v2(app, model, metrics)


async def _logits(request: Request, model: ServedModel, metrics: Metrics,
                  parse: Callable[[object], np.ndarray | Encoded],
                  decode: Decoder | None = None) -> np.ndarray:
    started = time.perf_counter()
    try:
        body = await asyncio.wait_for(read_body(request, model.body_limit), model.settings.timeout)
    except asyncio.TimeoutError:
        late = f"The body did not arrive within {model.settings.timeout:g} s (--timeout)."
        raise Refused(late, 408) from None
    if len(body) <= INLINE_BODY_BYTES:  # a few images: a thread hop would cost more
        pixels = parse(parse_json(body))
    else:
        pixels = await asyncio.to_thread(lambda: parse(parse_json(body)))
    if isinstance(pixels, Encoded) and decode:  # within what is left of the timeout
        pixels = await decode(pixels, model.settings.timeout - (time.perf_counter() - started))
    logits = await model.predict(pixels)
    observe(metrics, started, [model.classes[label] for label in logits.argmax(axis=1)]
            {{- ", pixels" if cookiecutter.monitoring else "" }})
    return logits.round(6)


def _ready(model: ServedModel) -> JSONResponse:
    if model.ready:
        return JSONResponse({"ready": True})
    stopping = ("The service is stopping." if model.stopping else
                "The model is loading." if not model.loaded else
                "Other workers are still loading the model.")
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
    async def ready() -> JSONResponse:
        return _ready(model)

    @app.get("/metrics", response_class=Response, responses=openapi.METRICS)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.exposed), media_type=CONTENT_TYPE_LATEST)


def _add_v1(app: FastAPI, model: ServedModel, metrics: Metrics) -> None:
    layout = model.manifest["input"]["layout"]  # the model's shape: (C, H, W) or (H, W, C)
    nchw = layout == "NCHW"
    channels, size = model.shape[0 if nchw else 2], model.shape[1 if nchw else 0]
    decode = Decoder(size, channels, layout)

    def parse(body: object) -> np.ndarray | Encoded:
        return instances(body, model.shape, encoded=True)

    @app.post(f"/v1/models/{model.name}:predict", **openapi.predict_v1(model.shape))
    @app.post("/predict", **openapi.predict_v1(model.shape))
    async def predict(request: Request) -> JSONResponse:
        logits = await _logits(request, model, metrics, parse, decode)
        return JSONResponse({"predictions": logits.tolist()})

    @app.get(f"/v1/models/{model.name}", responses=openapi.answer("Model status", openapi.STATUS))
    async def status() -> JSONResponse:
        state = "AVAILABLE" if model.ready else "UNLOADING" if model.stopping else "LOADING"
        return JSONResponse({"model_version_status": [{
            "version": model.version, "state": state,
            "status": {"error_code": "OK", "error_message": model.failure}}]})


def _add_v2(app: FastAPI, model: ServedModel, metrics: Metrics) -> None:
    name = model.manifest["input"]["name"]

    def parse(body: object) -> np.ndarray:
        return tensor(body, name, model.shape)

    @app.get(f"/v2/models/{model.name}", responses=openapi.answer("Metadata", openapi.METADATA))
    async def metadata() -> JSONResponse:
        return JSONResponse({
            "name": model.name, "versions": [model.version], "platform": SERVER_PLATFORM,
            "inputs": [{"name": name, "datatype": "FP32", "shape": [-1, *model.shape]}],
            "outputs": [{"name": "logits", "datatype": "FP32",
                         "shape": [-1, len(model.classes)]}]})

    @app.post(f"/v2/models/{model.name}/infer", **openapi.infer_v2(name, model.shape))
    async def infer(request: Request) -> JSONResponse:
        logits = await _logits(request, model, metrics, parse)
        return JSONResponse({
            "model_name": model.name, "model_version": model.version,
            "outputs": [{"name": "logits", "datatype": "FP32", "shape": list(logits.shape),
                         "data": logits.ravel().tolist()}]})
