"""A generated project's server (the HTTP service, the web page's), started as its README
says, for the slow tests that talk to it."""

import json
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@contextmanager
def serving(
    project: Path, env: dict[str, str], module: str, *args: str, ready: str
) -> Iterator[str]:
    """``python -m MODULE --port PORT ARGS`` in the project on a free port, stopped when the
    block ends: its base URL, once GET ``ready`` (a path) answers 200."""
    port = free_port()
    with tempfile.TemporaryFile("w+") as errors:  # a file: a pipe nobody reads fills up
        server = subprocess.Popen(
            ["python", "-m", module, "--port", str(port), *args],
            cwd=project,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            text=True,
        )
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}{ready}", server, errors)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(timeout=30)


def wait_until_healthy(
    url: str, server: subprocess.Popen, errors: IO[str], seconds: float = 120
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            errors.seek(0)
            raise AssertionError(f"exit code {server.returncode}: {errors.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds} s")
