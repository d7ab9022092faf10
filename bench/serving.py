"""The generated HTTP service under load: dynamic batching on vs off, and /healthz meanwhile.

python -m bench.serving PROJECT_DIR ARTIFACTS_DIR [--seconds 5] [--clients 1 8 32 64] [--workers]

Run with the starter environment's Python (the project installed with its serve extra). For
each setting and each number of concurrent clients, each client sends single-image TF Serving
requests over its own keep-alive connection for --seconds; prints a Markdown table of
requests/s and p50/p99 latency, then /healthz's p50/p99 while 32 clients saturate predict.
The load generator shares the machine's cores with the service: figures are for this machine.

--workers compares ways of using the cores instead (batching on, no delay): one process or two
worker processes on one socket (serve --workers), each with the runtime's default threads (one
per core) or one runtime thread (serve --threads).
"""

import argparse
import http.client
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

SETTINGS = {
    "batching, 2 ms delay": ["--max-delay-ms", "2"],
    "batching, no delay": ["--max-delay-ms", "0"],
    "batching off": ["--no-batching"],
}
WORKERS = {  # --workers
    "1 process, runtime threads: one per core": ["--workers", "1", "--threads", "0"],
    "1 process, 1 runtime thread": ["--workers", "1", "--threads", "1"],
    "2 worker processes, runtime threads: one per core": ["--workers", "2", "--threads", "0"],
    "2 worker processes, 1 runtime thread each": ["--workers", "2", "--threads", "1"],
}


def pinned(cores: set[int] | None) -> Callable[[], None] | None:
    """For Popen's preexec_fn: the process and all it starts run on ``cores`` only (what
    ``taskset -c`` does), or anywhere with None."""
    return None if cores is None else lambda: os.sched_setaffinity(0, cores)


def start(
    project: Path, artifacts: Path, flags: list[str], cores: set[int] | None = None
) -> tuple[subprocess.Popen, int]:
    """The project's service (its own src/ first on the path: this project's code, even where
    another version of the package is installed), on ``cores`` if given, once ready, and its
    port."""
    package = next(p.name for p in (project / "src").iterdir() if (p / "serve.py").is_file())
    path = os.pathsep.join(filter(None, [str(project / "src"), os.environ.get("PYTHONPATH")]))
    service = subprocess.Popen(
        [
            sys.executable,
            "-m",
            f"{package}.serve",
            "--port",
            "0",
            "--artifacts",
            str(artifacts),
            *flags,
        ],
        cwd=project,
        env={**os.environ, "PYTHONPATH": path},
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=pinned(cores),
    )
    assert service.stdout is not None
    port = int(re.findall(r"http://[\d.]+:(\d+)", service.stdout.readline())[0])
    for _ in range(600):
        if get(port, "/v2/health/ready")[0] == 200:
            return service, port
        time.sleep(0.2)
    raise RuntimeError("the service did not become ready")


def get(port: int, path: str) -> tuple[int, float]:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        started = time.perf_counter()
        connection.request("GET", path)
        status = connection.getresponse().status
        return status, time.perf_counter() - started
    except OSError:
        return 0, 0.0


JSON = {"Content-Type": "application/json"}


def client(
    port: int,
    path: str,
    body: bytes,
    until: float,
    latencies: list[float],
    headers: dict[str, str] = JSON,
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while time.perf_counter() < until:
        started = time.perf_counter()
        connection.request("POST", path, body, headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}")
        latencies.append(time.perf_counter() - started)


def load(
    port: int,
    path: str,
    body: bytes,
    clients: int,
    seconds: float,
    headers: dict[str, str] = JSON,
) -> list[float]:
    """Latencies of every request that ``clients`` concurrent clients made in ``seconds``."""
    until = time.perf_counter() + seconds
    per_client: list[list[float]] = [[] for _ in range(clients)]
    threads = [
        threading.Thread(target=client, args=(port, path, body, until, found, headers))
        for found in per_client
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [latency for found in per_client for latency in found]


def healthz_under_load(port: int, path: str, body: bytes, seconds: float) -> list[float]:
    # The 32 clients run in a process of their own, so the probe does not wait for their GIL.
    saturating = multiprocessing.Process(target=load, args=(port, path, body, 32, seconds))
    saturating.start()
    time.sleep(0.5)
    latencies = []
    while saturating.is_alive():
        latencies.append(get(port, "/healthz")[1])
        time.sleep(0.02)
    return latencies


def ms(latencies: list[float], quantile: float) -> str:
    return f"{np.quantile(latencies, quantile) * 1000:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("project", type=Path)
    parser.add_argument("artifacts", type=Path)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--workers", action="store_true", help="compare processes and threads")
    args = parser.parse_args()
    manifest = json.loads((args.artifacts / "manifest.json").read_text())
    image = np.full(manifest["input"]["shape"][1:], 128.0).tolist()
    body = json.dumps({"instances": [image]}).encode()
    print("| setting | clients | requests/s | p50 ms | p99 ms |\n| --- | --- | --- | --- | --- |")
    health = {}
    for setting, flags in (WORKERS if args.workers else SETTINGS).items():
        service, port = start(args.project, args.artifacts, flags)
        try:
            for clients in args.clients:
                latencies = load(port, "/predict", body, clients, args.seconds)
                print(
                    f"| {setting} | {clients} | {len(latencies) / args.seconds:.0f} | "
                    f"{ms(latencies, 0.5)} | {ms(latencies, 0.99)} |",
                    flush=True,
                )
            health[setting] = healthz_under_load(port, "/predict", body, args.seconds)
        finally:
            service.send_signal(signal.SIGTERM)
            service.wait(timeout=60)
    print("\n| setting | /healthz p50 ms | /healthz p99 ms (32 clients on predict) |")
    print("| --- | --- | --- |")
    for setting, latencies in health.items():
        print(f"| {setting} | {ms(latencies, 0.5)} | {ms(latencies, 0.99)} |")


if __name__ == "__main__":
    main()
