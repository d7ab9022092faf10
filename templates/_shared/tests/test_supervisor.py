"""serve --workers N keeps its workers running: one that is killed is started again, and the
service says not ready until the new one has loaded; one that keeps dying stops the service
with the worker's status (128 + the signal's number for a signal), leaving no worker behind."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from .test_serve import PREDICT, post

# Each test starts the service with several worker processes (minutes): pytest -m slow.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc (Linux)"),
]


def children(pid: int) -> list[int]:
    """The process's children; none once it has ended."""
    try:
        listed = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(child) for child in listed.split()]


def ready(url: str) -> int:
    """The readiness probe's status; 0 where nothing answered."""
    try:
        with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def within(seconds: float, condition: Callable[[], bool]) -> bool:
    """Whether condition() held at some point within these seconds (asked every 50 ms)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def start_workers(artifacts: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """serve --workers 2, its log in a file, once ready: its process and address."""
    command = [
        sys.executable,
        "-m",
        "{{ cookiecutter.package_name }}.serve",
        "--port",
        "0",
        "--artifacts",
        str(artifacts),
        "--workers",
        "2",
    ]
{%- if cookiecutter.monitoring %}
    command += ["--sample-log", str(log.parent / "traffic.jsonl")]  # not the project's
{%- endif %}
    with log.open("w") as stderr:
        service = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
    assert service.stdout is not None
    url = re.search(r"http://[\d.]+:\d+", service.stdout.readline())
    assert url, log.read_text()
    if not within(120, lambda: ready(url[0]) == 200):
        service.kill()
        raise AssertionError(f"not ready within 120 s: {log.read_text()}")
    return service, url[0]


def test_a_killed_worker_is_started_again_and_readiness_waits_for_it(artifacts, images, tmp_path):
    log = tmp_path / "serve.log"
    process, url = start_workers(artifacts, log)
    try:
        killed = children(process.pid)[0]
        os.kill(killed, signal.SIGKILL)
        went_unready = within(10, lambda: ready(url) == 503)
        came_back = within(120, lambda: ready(url) == 200)
        workers = children(process.pid)
        status = post(url + PREDICT, {"instances": images[:1].tolist()})[0]
        still_running = process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert still_running and went_unready and came_back
    assert len(workers) == 2 and killed not in workers and status == 200 and code == 0
    assert str(killed) in log.read_text()  # the log names the worker that died


def test_a_worker_that_keeps_dying_stops_the_service_with_its_status(artifacts, tmp_path):
    process, _ = start_workers(artifacts, tmp_path / "serve.log")
    survivor, doomed = children(process.pid)
    killed: list[int] = []

    def kill_the_newest() -> bool:
        if process.poll() is not None:
            return True
        for child in set(children(process.pid)) - {survivor, *killed}:
            os.kill(child, signal.SIGKILL)
            killed.append(child)
        return False

    os.kill(doomed, signal.SIGKILL)
    killed.append(doomed)
    try:
        stopped = within(120, kill_the_newest)
    finally:
        process.kill()  # one that did not stop must not outlive the test
    assert stopped and process.wait() == 128 + signal.SIGKILL
    assert len(killed) > 1  # it was started again before the service gave up
    assert within(10, lambda: not Path(f"/proc/{survivor}").exists())
