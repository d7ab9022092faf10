"""Serve the exported model over HTTP: TF Serving's REST API and the Open Inference Protocol.

python -m {{ cookiecutter.package_name }}.serve [--host 127.0.0.1] [--port 8000] [--artifacts DIR]
    [--max-batch 32] [--max-delay-ms 0] [--no-batching] [--max-body-bytes N] [--timeout 10]

POST /v1/models/NAME:predict  {"instances": [image, ...]} -> {"predictions": [logits, ...]}
POST /predict                 the same (kept as an alias)
GET  /v1/models/NAME          TF Serving's model status
POST /v2/models/NAME/infer    Open Inference Protocol (KServe v2, Triton): one FP32 tensor
GET  /v2/models/NAME          its metadata: input and output names, datatypes, shapes
GET  /healthz, /v2/health/live                   liveness: the process answers
GET  /v2/health/ready, /v2/models/NAME/ready     readiness: the model is loaded and warmed up
GET  /metrics                 Prometheus text: responses by endpoint and status, latency, classes
NAME is the project's distribution name; an image is in the model's input shape without the
batch axis, raw 0-255 pixels.
"""

import argparse
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from . import routes
from .model_server import ServedModel, Settings
from .monitoring import Metrics, install

MODEL_NAME = "{{ cookiecutter.distribution_name }}"


def create_app(artifacts: Path, settings: Settings | None = None) -> FastAPI:
    """The service; its model loads and warms up in the background once it starts."""
    model = ServedModel(MODEL_NAME, artifacts, settings or Settings())
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        model.start()
        yield
        await model.stop()  # after the server has answered every request it accepted

    app = FastAPI(title=f"{MODEL_NAME} model", version="1", lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.model = model
    install(app, metrics)
    routes.add(app, model, metrics)
    return app


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the exported model over HTTP.")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to listen on every address")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    parser.add_argument("--max-batch", type=int, default=Settings.max_batch,
                        help="most images the batcher puts in one model call")
    parser.add_argument("--max-delay-ms", type=float, default=Settings.max_delay * 1000,
                        help="longest a request waits for others to join its batch")
    parser.add_argument("--no-batching", action="store_true",
                        help="run each request alone (in a worker thread)")
    parser.add_argument("--max-body-bytes", type=int, default=None,
                        help="larger bodies get 413 (default: sized to 1024 images)")
    parser.add_argument("--timeout", type=float, default=Settings.timeout,
                        help="seconds to read a body, and to wait for the model")
    return parser.parse_args(argv)


def _settings(args: argparse.Namespace) -> Settings:
    if args.max_batch < 1 or args.max_delay_ms < 0 or args.timeout <= 0:
        raise ValueError("--max-batch must be at least 1, --max-delay-ms at least 0 "
                         "and --timeout above 0.")
    return Settings(max_batch=args.max_batch, max_delay=args.max_delay_ms / 1000,
                    batching=not args.no_batching, max_body_bytes=args.max_body_bytes,
                    timeout=args.timeout)


def _listen(host: str, port: int) -> socket.socket:
    """Bind now, so a taken port is one clear line before anything loads."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # As uvicorn does for sockets it makes: without it, each answer on a kept-alive
    # connection waits ~40 ms for a delayed ACK (Nagle's algorithm).
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        raise ValueError(f"Cannot listen on {host}:{port}: {error.strerror}. "
                         "Choose another --port (or stop what uses it).") from None
    return listener


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    try:
        app = create_app(args.artifacts, _settings(args))
        listener = _listen(args.host, args.port)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    host, port = listener.getsockname()[:2]
    print(f"Serving {MODEL_NAME} on http://{host}:{port} (loading the model; ready when "
          f"/v2/health/ready answers 200). Stop with Ctrl-C or SIGTERM.", flush=True)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=args.timeout * 2)
    server = uvicorn.Server(config)
    app.state.model.on_failure = lambda: setattr(server, "should_exit", True)
    stopped_by: list[int] = []
    # uvicorn stops gracefully on these, then raises the signal again for the handler
    # that was there before it: ours notes it, so the process ends with an exit code.
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, lambda number, frame: stopped_by.append(number))
    server.run(sockets=[listener])
    if app.state.model.failure:
        return 1
    return 130 if signal.SIGINT in stopped_by else 0


if __name__ == "__main__":
    sys.exit(main())
