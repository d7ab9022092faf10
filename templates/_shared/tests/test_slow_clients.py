"""Clients that send their headers a line at a time (slowloris) hold a connection for --timeout
at most: then each gets 408 and is disconnected, while the service answers everyone else."""

import select
import signal
import socket
import time
import urllib.request

import pytest

from .test_serve import start

# Each test starts the service as its own process and holds 50 connections: pytest -m slow.
pytestmark = pytest.mark.slow

CONNECTIONS = 50
TIMEOUT = 1.0  # serve's --timeout for this test, in seconds
BOUND = 10.0  # the test gives up waiting after this; before the fix they were held 40 s and more


def trickle(host: str, port: int) -> tuple[dict[int, float], dict[int, bytes]]:
    """CONNECTIONS connections that each send a header line every quarter second, until the
    service closes them or BOUND passes: when each was closed, and what it was answered."""
    started = time.monotonic()  # before any connection: the service's deadlines start later
    connections = [socket.create_connection((host, port), timeout=5) for _ in range(CONNECTIONS)]
    closed: dict[int, float] = {}
    answers = {number: b"" for number in range(CONNECTIONS)}
    try:
        for connection in connections:
            connection.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n".encode())
        while len(closed) < CONNECTIONS and time.monotonic() - started < BOUND:
            open_ = [c for n, c in enumerate(connections) if n not in closed]
            readable, _, _ = select.select(open_, [], [], 0.25)
            for connection in readable:
                number = connections.index(connection)
                try:
                    chunk = connection.recv(65536)
                except OSError:
                    chunk = b""
                answers[number] += chunk
                if not chunk:
                    closed[number] = time.monotonic() - started
            for number, connection in enumerate(connections):
                if number not in closed and connection not in readable:
                    try:
                        connection.sendall(b"X-Slow: 1\r\n")
                    except OSError:
                        closed[number] = time.monotonic() - started
    finally:
        for connection in connections:
            connection.close()
    return closed, answers


def test_connections_trickling_header_lines_are_closed_after_the_timeout(artifacts):
    process, url = start(artifacts, "--timeout", str(TIMEOUT), "--workers", "1")
    host, port = url.removeprefix("http://").split(":")
    try:
        closed, answers = trickle(host, int(port))
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:
            healthy = response.status
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert len(closed) == CONNECTIONS, f"{CONNECTIONS - len(closed)} still held after {BOUND} s"
    assert min(closed.values()) >= TIMEOUT
    statuses = {answer.split(b"\r\n")[0] for answer in answers.values() if answer}
    assert statuses == {b"HTTP/1.1 408 Request Timeout"}
    assert healthy == 200 and code == 0


def test_a_connection_that_sends_nothing_is_closed_after_the_timeout(artifacts):
    process, url = start(artifacts, "--timeout", str(TIMEOUT), "--workers", "1")
    host, port = url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=BOUND) as connection:
            started = time.monotonic()
            try:
                answer = connection.recv(65536)
            except TimeoutError:
                answer = None  # still held when the test stopped waiting
            held = time.monotonic() - started
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    assert answer == b"" and TIMEOUT <= held < BOUND and code == 0
