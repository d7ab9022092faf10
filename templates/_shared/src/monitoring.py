"""What the service counts for Prometheus, and its errors as JSON.

Every response is counted by endpoint and status, 5xx included, and every error is a JSON
object with one "error" message: never a traceback or an HTML page.
"""

import logging
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .inputs import Refused

log = logging.getLogger(__name__)


class Metrics:
    """The service's Prometheus metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("requests", "HTTP responses by endpoint and status",
                                ["endpoint", "status"], registry=self.registry)
        self.latency = Histogram("request_latency_seconds", "Time to answer a prediction request",
                                 registry=self.registry)
        self.predicted = Counter("predictions", "Predicted classes", ["label"],
                                 registry=self.registry)


class CountResponses:
    """ASGI middleware: count each response by its route and status, 5xx included."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # unless the app starts a response: an exception on its way out

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            route = scope.get("route")
            endpoint = route.path if route is not None else "unmatched"
            self.metrics.requests.labels(endpoint, str(status)).inc()


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _refused(request: Request, error: Exception) -> JSONResponse:
    status = error.status if isinstance(error, Refused) else 400
    return _error(status, str(error))


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    if not isinstance(error, HTTPException):
        return _error(500, "Internal error.")
    return _error(error.status_code, f"{error.detail}: {request.method} {request.url.path}")


async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    log.exception("500 for %s %s", request.method, request.url.path, exc_info=error)
    return _error(500, "Internal error: the service's log has the details.")


def install(app: FastAPI, metrics: Metrics) -> None:
    """Count every response and answer every error with JSON."""
    app.add_middleware(CountResponses, metrics=metrics)
    app.add_exception_handler(Refused, _refused)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)


def observe(metrics: Metrics, started: float, labels: list[str]) -> None:
    """Record one answered prediction request."""
    metrics.latency.observe(time.perf_counter() - started)
    for label in labels:
        metrics.predicted.labels(label).inc()
