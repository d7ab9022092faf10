"""Serve the exported model over HTTP: TF Serving's REST API and the Open Inference Protocol.

python -m {{ cookiecutter.package_name }}.serve
    [--host 127.0.0.1] [--port 8000] [--artifacts DIR{{ " | --model URI" if cookiecutter.registry else "" }}]
    [--max-batch 32] [--max-delay-ms 0] [--no-batching] [--max-body-bytes N] [--timeout 10]
    [--workers 2] [--threads 1]
{%- if cookiecutter.registry %}
    [--model-cache DIR] [--follow 30]
{%- endif %}
{%- if cookiecutter.monitoring %}
    [--sample-log monitoring/samples.jsonl] [--sample-rate 1] [--sample-log-mb 10]
{%- endif %}

POST /v1/models/NAME:predict  {"instances": [image, ...]} -> {"predictions": [...], "labels": [...]}
POST /predict                 the same (kept as an alias)
GET  /v1/models/NAME          TF Serving's model status
POST /v2/models/NAME/infer    Open Inference Protocol (KServe v2, Triton): logits and labels
GET  /v2/models/NAME          its metadata; GET /v2 the server's (binary tensor data extension)
GET  /healthz, /v2/health/live                   liveness: the process answers
GET  /v2/health/ready, /v2/models/NAME/ready     readiness: every worker has warmed up its model
GET  /metrics                 Prometheus text: responses by endpoint and status, latency, classes
{%- if cookiecutter.monitoring %}
                              and the inputs: mean pixel, contrast, drift score (monitoring.py)
{%- endif %}
NAME is the project's distribution name (NAME/versions/V too, V the version served); an image
is in the model's input shape without the batch axis, raw 0-255 pixels.

--workers N runs N copies of the service on one socket (the kernel spreads connections among
them), and starts again one that dies (supervisor.py); /metrics counts every worker's requests
(prometheus_client's multiprocess mode). --timeout bounds a request's headers (header_deadline.py),
its body and the model's answer.
--threads is how many threads the runtime uses per model call. On 2 cores, 2 workers of one
thread each served the most (bench/ in fwstart); on Kubernetes, scale out with replicas.
{%- if cookiecutter.registry %}

--model models:/{{ cookiecutter.distribution_name }}@ALIAS
(or models:/{{ cookiecutter.distribution_name }}/VERSION) serves a version of MLflow's
model registry instead of --artifacts (registered.py); the metadata and /healthz name it.
With an alias, the service follows it (following.py): every --follow seconds (30; 0: never) it
asks where the alias points, and swaps to a new version without a restart or a failed request,
once that version's files match its manifest. Each answer names the version that gave it.
{%- endif %}
"""

import argparse
{%- if cookiecutter.registry %}
import asyncio
{%- endif %}
import errno
import os
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import FrameType
{%- if cookiecutter.registry %}
from typing import TYPE_CHECKING
{%- endif %}

import uvicorn
from fastapi import FastAPI

from . import lineage, routes{{ ", sample_log" if cookiecutter.monitoring else "" }}
{%- if cookiecutter.monitoring %}
from .drift import Window, load_reference
{%- endif %}
from .flag_values import real, whole
from .header_deadline import with_header_deadline
from .inputs import MAX_INSTANCES
from .model_server import ServedModel, Settings
from .monitoring import Metrics, install
{%- if cookiecutter.monitoring %}
from .sample_log import SampleLog
{%- endif %}
from .stopping import CloseWhenStopping, StoppingServer
from .supervisor import Supervisor, note_loaded
{%- if cookiecutter.registry %}

if TYPE_CHECKING:  # MLflow's client loads only for --model
    from .following import Follower
{%- endif %}

MODEL_NAME = "{{ cookiecutter.distribution_name }}"
MAX_TIMEOUT = 3600.0  # seconds: an hour is past any model call or upload worth waiting for
{%- if cookiecutter.monitoring %}


def create_app(
    artifacts: Path,
    settings: Settings | None = None,
    version: str = "1",
    samples: SampleLog | None = None,
) -> FastAPI:
    """The service; its model loads and warms up in the background once it starts.
    Inputs are watched for drift, and logged to samples if given."""
    model = ServedModel(MODEL_NAME, artifacts, settings or Settings(), version)
    metrics = Metrics(Window(load_reference(artifacts, model.manifest)), samples)
{%- else %}


def create_app(artifacts: Path, settings: Settings | None = None, version: str = "1") -> FastAPI:
    """The service; its model loads and warms up in the background once it starts."""
    model = ServedModel(MODEL_NAME, artifacts, settings or Settings(), version)
    metrics = Metrics()
{%- endif %}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        model.start()
{%- if cookiecutter.registry %}
        following = None
        if app.state.follow is not None:  # serve --model NAME@ALIAS
            from .following import watch  # MLflow's client loads only for --model

            following = asyncio.create_task(watch(model, app.state.follow, metrics.refused.set))
        yield
        if following is not None:
            following.cancel()
{%- else %}
        yield
{%- endif %}
        await model.stop()  # after the server has answered every request it accepted

    app = FastAPI(
        title=f"{MODEL_NAME} model", version="1", lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.model = model
{%- if cookiecutter.registry %}
    app.state.follow = None  # the file that names the version to serve, if it follows an alias
    model.on_swap = metrics.swaps.inc
{%- endif %}
    install(app, metrics)
    app.add_middleware(CloseWhenStopping, stopping=lambda: model.stopping)
    routes.add(app, model, metrics)
    return app


def tcp_port(text: str) -> int:
    """A --port value (for argparse): a whole number from 0 (any free port) to 65535."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give 0-65535")
    return int(text)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the exported model over HTTP.")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to listen on every address")
    parser.add_argument("--port", type=tcp_port, default=8000, help="0 picks a free port")
{%- if cookiecutter.registry %}
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    source.add_argument(
        "--model",
        metavar="URI",
        help=f"a registered version: models:/{MODEL_NAME}@ALIAS or /VERSION",
    )
    parser.add_argument(
        "--model-cache",
        type=Path,
        metavar="DIR",
        help=f"where --model keeps the versions it fetched [default: ~/.cache/{MODEL_NAME}/models]",
    )
    parser.add_argument(
        "--follow",
        type=real(0),
        default=None,
        metavar="SECONDS",
        help="with --model NAME@ALIAS: how often to check where the alias points, to swap to "
        "the version it moved to (default 30; 0: never)",
    )
    # How the workers of --workers N get the version fetched for them, or the file that
    # names the version to serve as the alias moves; not for people.
    parser.add_argument("--fetched", nargs=2, metavar=("DIR", "VERSION"), help=argparse.SUPPRESS)
    parser.add_argument("--follow-file", type=Path, default=None, help=argparse.SUPPRESS)
{%- else %}
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
{%- endif %}
    parser.add_argument(
        "--max-batch",
        type=whole(1, MAX_INSTANCES),
        default=Settings.max_batch,
        help="most images the batcher puts in one model call",
    )
    parser.add_argument(
        "--max-delay-ms",
        type=real(0),
        default=Settings.max_delay * 1000,
        help="longest a request waits for others to join its batch",
    )
    parser.add_argument(
        "--no-batching", action="store_true", help="run each request alone (in a worker thread)"
    )
    parser.add_argument(
        "--max-body-bytes",
        type=whole(1),
        default=None,
        help="larger bodies get 413 (default: sized to 1024 images)",
    )
    parser.add_argument(
        "--timeout",
        type=real(0, MAX_TIMEOUT, above=True),
        default=Settings.timeout,
        help="seconds to read a request's headers and body, and to wait for the model",
    )
    parser.add_argument(
        "--workers",
        type=whole(1),
        default=2,
        help="processes serving on the one socket, one model each",
    )
    parser.add_argument(
        "--threads",
        type=whole(0),
        default=Settings.threads,
        help="the runtime's threads per model call (0: one per core)",
    )
    # How --workers hands each worker the socket it bound, and where the workers note that
    # they have loaded the model; not for people.
    parser.add_argument("--socket-fd", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--loaded-dir", type=Path, default=None, help=argparse.SUPPRESS)
{%- if cookiecutter.monitoring %}
    sample_log.add_arguments(parser)
{%- endif %}
    args = parser.parse_args(argv)
{%- if cookiecutter.registry %}
    if args.follow is not None and not (args.model and "@" in args.model):
        parser.error("argument --follow: only an alias moves: give --model models:/NAME@ALIAS")
{%- endif %}
    if args.max_delay_ms >= args.timeout * 1000:  # each batch would wait past the deadline
        parser.error(
            f"argument --max-delay-ms: {args.max_delay_ms:g} is not below --timeout "
            f"({args.timeout:g} s): give a shorter delay or a longer timeout"
        )
    return args


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(
        max_batch=args.max_batch,
        max_delay=args.max_delay_ms / 1000,
        batching=not args.no_batching,
        max_body_bytes=args.max_body_bytes,
        timeout=args.timeout,
        threads=args.threads,
    )


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
    except OSError as error:  # socket.gaierror too: a name that does not resolve
        listener.close()
        fix = (
            "Choose another --port (or stop what uses it)."
            if error.errno in (errno.EADDRINUSE, errno.EACCES)
            else f"Give --host an address of this machine ({host!r} is not one): "
            "127.0.0.1, or 0.0.0.0 for every address."
        )
        raise ValueError(f"Cannot listen on {host}:{port}: {error.strerror}. {fix}") from None
    listener.listen(2048)  # connections wait in the kernel's queue from now on
    return listener


def _serve(app: FastAPI, listener: socket.socket, timeout: float, announcement: str = "") -> int:
    """Serve until SIGTERM or Ctrl-C, answering what was accepted; the exit code. The
    announcement is printed once a signal can no longer end the process abruptly."""
    config = uvicorn.Config(
        app,
        log_level="warning",
        timeout_graceful_shutdown=timeout * 2,
        http=with_header_deadline(timeout),  # httptools' parser
        loop="auto",  # uvloop where it installs (not on Windows), else asyncio's
    )
    server = StoppingServer(config, listener, lambda: setattr(app.state.model, "stopping", True))
    app.state.model.on_failure = lambda: setattr(server, "should_exit", True)
    stopped_by: list[int] = []

    def stop(number: int, frame: FrameType | None) -> None:
        stopped_by.append(number)
        server.handle_exit(number, frame)

    # uvicorn takes these over only once it runs, stops gracefully on them (stopping.py), then
    # raises the signal again for the handler that was there before it. Ours, before and after:
    # a signal before uvicorn's handlers stops the server all the same, and each one is noted,
    # so the process ends with a code.
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, stop)
    if announcement:
        print(announcement, flush=True)
    server.run(sockets=[listener])
    if app.state.model.failure:
        return 1
    return 130 if signal.SIGINT in stopped_by else 0


def _supervise(argv: list[str], workers: int, listener: socket.socket, announcement: str) -> int:
    """Run the workers on our socket (supervisor.py) until SIGTERM or Ctrl-C, which pass on
    to them once; the exit code. The announcement is printed once the signals are ours to
    pass on."""
    with (
        tempfile.TemporaryDirectory(prefix="serve-metrics-") as metrics,
        tempfile.TemporaryDirectory(prefix="serve-loaded-") as loaded,
    ):
        command = [
            sys.executable,
            "-m",
            "{{ cookiecutter.package_name }}.serve",
            *argv,
            "--socket-fd",
            str(listener.fileno()),
            "--loaded-dir",
            loaded,
        ]
        environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics}
        supervisor = Supervisor(command, environment, listener, Path(loaded), workers)
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signal_number, lambda number, frame: supervisor.stop(number))
        return supervisor.run(announcement)


{% if cookiecutter.registry -%}
def _model_files(args: argparse.Namespace) -> tuple[Path, str]:
    """The folder to serve and its version: --artifacts' (version 1), or --model's, fetched
    from the registry (by the supervisor of --workers N, for its workers) and verified."""
    if args.follow_file:  # a worker of a service that follows an alias: the version now
        from .following import Serving

        serving = Serving.read(args.follow_file)
        return serving.folder, serving.version
    if args.fetched:
        return Path(args.fetched[0]), args.fetched[1]
    if args.model is None:
        return args.artifacts, "1"
    from .following import why_not_served  # MLflow's client loads only for --model
    from .registered import fetch

    folder, version = fetch(args.model, MODEL_NAME, args.model_cache)
    problem = why_not_served(folder, None)
    if problem:
        raise ValueError(f"{args.model} is version {version}, which cannot be served: {problem}.")
    return folder, version


def _follower(args: argparse.Namespace, folder: Path, version: str) -> "Follower | None":
    """What follows --model's alias (following.py), unless it names a version or --follow 0."""
    every = 30.0 if args.follow is None else args.follow
    if "@" not in args.model or every == 0:
        return None
    from .following import Follower, Serving

    return Follower(args.model, MODEL_NAME, args.model_cache, every, Serving(folder, version))


{% endif -%}
def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
{%- if cookiecutter.registry %}
    argv = sys.argv[1:] if argv is None else argv
    follower = None
    try:
        artifacts, version = _model_files(args)
        resolved = ""  # an alias moves: the first line says which version it is now
        if args.model and not (args.fetched or args.follow_file):  # the first process
            resolved = f" {args.model} is version {version}."
            follower = _follower(args, artifacts, version)
            # The workers serve this very version, or the one the alias has moved to.
            handed = ["--fetched", str(artifacts), version]
            argv = [*argv, *(["--follow-file", str(follower.path)] if follower else handed)]
{%- if cookiecutter.monitoring %}
        app = create_app(
            artifacts, _settings(args), version, samples=sample_log.from_arguments(args)
        )
{%- else %}
        app = create_app(artifacts, _settings(args), version)
{%- endif %}
        app.state.follow = follower.path if follower else args.follow_file
{%- else %}
    try:
        app = create_app(args.artifacts, _settings(args){{ ", samples=sample_log.from_arguments(args)" if cookiecutter.monitoring else "" }})
{%- endif %}
        if args.socket_fd is not None:  # a worker of --workers N
            model = app.state.model
            model.on_loaded, model.all_loaded = note_loaded(args.loaded_dir, args.workers)
            return _serve(app, socket.socket(fileno=args.socket_fd), args.timeout)
        listener = _listen(args.host, args.port)
        lineage.warn_if_stale(app.state.model.file.parent, app.state.model.manifest)
    except ValueError as error:
{%- if cookiecutter.registry %}
        if follower:
            follower.close()
{%- endif %}
        print(f"error: {error}", file=sys.stderr)
        return 1
    host, port = listener.getsockname()[:2]
    announcement = (
        f"Serving {MODEL_NAME} on http://{host}:{port} with {args.workers} "
        f"worker(s) (loading the model; ready when /v2/health/ready answers 200). "
        f"Stop with Ctrl-C or SIGTERM.{{ "{resolved}" if cookiecutter.registry else "" }}"
    )
{%- if cookiecutter.registry %}
    if follower:
        follower.start()
    try:
        if args.workers == 1:
            return _serve(app, listener, args.timeout, announcement)
        return _supervise(argv, args.workers, listener, announcement)
    finally:
        if follower:
            follower.close()
{%- else %}
    if args.workers == 1:
        return _serve(app, listener, args.timeout, announcement)
    return _supervise(sys.argv[1:] if argv is None else argv, args.workers, listener, announcement)
{%- endif %}


if __name__ == "__main__":
    sys.exit(main())
