"""What the service counts for Prometheus, and its errors as JSON.

Every response is counted by endpoint and status, 5xx included, and every error is a JSON
object with one "error" message: never a traceback or an HTML page. Under serve --workers N,
each worker writes its counts to PROMETHEUS_MULTIPROC_DIR and /metrics sums them all.
{%- if cookiecutter.monitoring %}

The inputs are watched too: each image's mean pixel and contrast (histograms), and the drift
score of the last images each worker saw against the training data (drift.py; /metrics shows
the largest of the workers', 0 until one has seen drift.MIN_SAMPLES images). A share of them
is logged with its prediction for python -m {{ cookiecutter.package_name }}.monitor.
{%- endif %}
"""

import logging
import os
import time

{% if cookiecutter.monitoring -%}
import numpy as np
{% endif -%}
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter, {{ "Gauge, " if cookiecutter.monitoring or cookiecutter.registry else "" }}Histogram, multiprocess
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

{% if cookiecutter.monitoring -%}
from .drift import Window, features
{% endif -%}
from .inputs import Refused
{%- if cookiecutter.monitoring %}
from .sample_log import SampleLog
{%- endif %}

log = logging.getLogger(__name__)
{%- if cookiecutter.monitoring %}
PIXEL_BUCKETS = tuple(range(16, 256, 16))  # 0-255 in sixteenths
{%- endif %}


class Metrics:
    """The service's Prometheus metrics, in a registry of its own."""
{%- if cookiecutter.monitoring %}

    def __init__(self, window: Window, samples: SampleLog | None = None) -> None:
{%- else %}

    def __init__(self) -> None:
{%- endif %}
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "requests",
            "HTTP responses by endpoint and status",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "request_latency_seconds", "Time to answer a prediction request", registry=self.registry
        )
        self.predicted = Counter(
            "predictions", "Predicted classes", ["label"], registry=self.registry
        )
{%- if cookiecutter.registry %}
        self.swaps = Counter(
            "model_swaps",
            "Times a worker swapped to the version the registry alias moved to",
            registry=self.registry,
        )
        self.refused = Gauge(
            "model_versions_refused",
            "Versions the registry alias moved to that failed verification (never served)",
            multiprocess_mode="max",
            registry=self.registry,
        )
{%- endif %}
{%- if cookiecutter.monitoring %}
        self.brightness = Histogram(
            "input_mean_pixel",
            "Mean pixel (0-255) of each input image",
            buckets=PIXEL_BUCKETS,
            registry=self.registry,
        )
        self.contrast = Histogram(
            "input_pixel_std",
            "Pixel standard deviation of each input",
            buckets=PIXEL_BUCKETS,
            registry=self.registry,
        )
        self.drift = Gauge(
            "input_drift_score",
            "PSI of recent inputs against the training data",
            multiprocess_mode="max",
            registry=self.registry,
        )
        self.sample_log_failures = Counter(
            "sample_log_failures",
            "Writes to the sample log that failed (the answers did not)",
            registry=self.registry,
        )
        self.window, self.samples, self.warned = window, samples, False
{%- endif %}
        self.exposed = self.registry  # what /metrics shows
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:  # a worker of serve --workers N
            self.exposed = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.exposed)


class CountResponses:
    """ASGI middleware: count each response by its route and status, 5xx included."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        counted = False

        def count(status: int) -> None:
            nonlocal counted
            counted = True
            route = scope.get("route")
            endpoint = route.path if route is not None else "unmatched"
            self.metrics.requests.labels(endpoint, str(status)).inc()

        async def send_counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                count(message["status"])  # before the client has it: a scrape after sees it
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            if not counted:  # no response started: an exception on its way out
                count(500)


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

{%- if cookiecutter.monitoring %}


def observe(metrics: Metrics, started: float, labels: list[str], pixels: np.ndarray) -> None:
    """Record one answered prediction request: its time, classes and images."""
{%- else %}


def observe(metrics: Metrics, started: float, labels: list[str]) -> None:
    """Record one answered prediction request."""
{%- endif %}
    metrics.latency.observe(time.perf_counter() - started)
    for label in labels:
        metrics.predicted.labels(label).inc()
{%- if cookiecutter.monitoring %}
    values = features(pixels)
    for brightness, contrast in values:
        metrics.brightness.observe(brightness)
        metrics.contrast.observe(contrast)
    if (score := metrics.window.add(values)) is not None:
        metrics.drift.set(score)
    if metrics.samples is not None:
        _log_samples(metrics, metrics.samples, pixels, labels)


def _log_samples(
    metrics: Metrics, samples: SampleLog, pixels: np.ndarray, labels: list[str]
) -> None:
    """The sample log is best effort: a full disk or a removed folder costs the log its
    lines, never a prediction its answer. Counted in /metrics; warned about once."""
    try:
        samples.write(pixels, labels)
    except OSError as error:
        metrics.sample_log_failures.inc()
        if not metrics.warned:
            metrics.warned = True
            log.warning(
                "Cannot write the sample log %s (%s); predictions go on without it, "
                "and sample_log_failures_total in /metrics counts what was lost.",
                samples.path,
                error.strerror or error,
            )
{%- endif %}
