"""Serve the exported model over HTTP, in TF Serving's REST shape.

python -m {{ cookiecutter.package_name }}.serve [--host 127.0.0.1] [--port 8000] [--artifacts DIR]

POST /predict  {"instances": [image, ...]} -> {"predictions": [logits, ...]}
               each image in the model's input shape without the batch axis, raw 0-255
GET  /healthz  {"status": "ok", "model": FILE}
GET  /metrics  Prometheus text: requests, latency, predictions per class
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from .export import SERVER_FORMAT
from .runtimes import load_runner

MAX_INSTANCES = 1024  # the exported models' batch range


class BadRequest(ValueError):
    """A request the service answers with 400 and this message."""


def server_artifact(artifacts: Path) -> tuple[Path, dict]:
    """The server's model file and the manifest that describes it."""
    manifest_file = artifacts / "manifest.json"
    if not manifest_file.is_file():
        raise ValueError(f"No {manifest_file}: train and export for the server target first.")
    manifest = json.loads(manifest_file.read_text())
    for entry in manifest["artifacts"]:
        if entry["format"] == SERVER_FORMAT:
            return artifacts / entry["file"], manifest
    raise ValueError(
        f"{manifest_file} lists no {SERVER_FORMAT} model: export with --target server."
    )


def parse_instances(body: object, shape: list[int]) -> np.ndarray:
    """Validate a TF Serving request body; return float32 pixels (N, *shape)."""
    if not isinstance(body, dict) or "instances" not in body:
        raise BadRequest('The body must be a JSON object with an "instances" list.')
    instances = body["instances"]
    if not isinstance(instances, list) or not 1 <= len(instances) <= MAX_INSTANCES:
        raise BadRequest(f'"instances" must be a list of 1 to {MAX_INSTANCES} images.')
    try:
        pixels = np.asarray(instances, dtype=np.float32)
    except (TypeError, ValueError):
        raise BadRequest(f"Every instance must be numbers in the shape {shape}.") from None
    if list(pixels.shape[1:]) != shape:
        got = list(pixels.shape[1:])
        raise BadRequest(f"Each instance must have the shape {shape}, got {got}.")
    if not np.isfinite(pixels).all() or pixels.min() < 0 or pixels.max() > 255:
        raise BadRequest("Pixel values must be numbers from 0 to 255.")
    return pixels


def create_app(artifacts: Path) -> FastAPI:
    """The service, with the server artifact loaded once."""
    model_file, manifest = server_artifact(artifacts)
    run = load_runner(model_file)
    shape = manifest["input"]["shape"][1:]
    classes = manifest["classes"]
    registry = CollectorRegistry()
    requests = Counter("requests", "HTTP requests", ["endpoint", "status"], registry=registry)
    latency = Histogram("request_latency_seconds", "Time to answer /predict", registry=registry)
    predicted = Counter("predictions", "Predicted classes", ["label"], registry=registry)
    app = FastAPI(title="digits model", docs_url=None, redoc_url=None)

    @app.get("/healthz")
    def healthz() -> dict:
        requests.labels("/healthz", "200").inc()
        return {"status": "ok", "model": model_file.name}

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        start = time.perf_counter()
        try:
            pixels = parse_instances(json.loads(await request.body()), shape)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _answer(requests, 400, {"error": "The body is not valid JSON."})
        except BadRequest as error:
            return _answer(requests, 400, {"error": str(error)})
        logits = run(pixels)
        for label in logits.argmax(axis=1):
            predicted.labels(classes[label]).inc()
        latency.observe(time.perf_counter() - start)
        return _answer(requests, 200, {"predictions": logits.round(6).tolist()})

    return app


def _answer(requests: Counter, status: int, body: dict) -> JSONResponse:
    requests.labels("/predict", str(status)).inc()
    return JSONResponse(body, status_code=status)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the exported model over HTTP.")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to listen on every address")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    args = parser.parse_args(argv)
    try:
        app = create_app(args.artifacts)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
