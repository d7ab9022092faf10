"""serve --workers N: N worker processes on one socket, kept running until SIGTERM or Ctrl-C.

A worker that dies while the service runs (the kernel's OOM killer, a crash) is started again
after a pause that doubles each time, from FIRST_DELAY up to LONGEST_DELAY; the supervisor logs
which worker died and how. Each worker notes in a folder that it has loaded the model, and
readiness counts the notes: the supervisor removes a dead worker's note, so the service says
not ready until its replacement has loaded. A worker that dies MAX_FAILURES times in a row,
each time within STEADY_SECONDS of its start, stops the service; so does one that ends with an
error before it loaded its model (a model file that cannot load would fail again). The exit
code is then the worker's: its own, or 128 + the signal's number for a worker killed by one.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

FIRST_DELAY = 0.5  # seconds before the first restart; doubled for each failure in a row
LONGEST_DELAY = 8.0
MAX_FAILURES = 4  # deaths in a row, each soon after its start, before the service stops
STEADY_SECONDS = 30.0  # a worker that ran this long starts a new count of failures
POLL_SECONDS = 0.1


def note_loaded(folder: Path, workers: int) -> tuple[Callable[[], None], Callable[[], bool]]:
    """A worker's two functions: note that it has loaded the model (a file named by its
    process id in the supervisor's folder), and whether all of the service's workers have
    (a readiness probe may reach any one of them)."""
    return (
        (lambda: (folder / str(os.getpid())).touch()),
        (lambda: sum(1 for _ in folder.iterdir()) >= workers),
    )


def exit_status(code: int) -> int:
    """A worker's exit code as a shell reports it: 128 + the signal's number for a signal."""
    return 128 - code if code < 0 else code


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


@dataclass
class _Worker:
    number: int  # 1 to N: which of the service's workers it is, through its restarts
    process: subprocess.Popen | None = None
    started: float = 0.0
    failures: int = 0  # deaths in a row, each within STEADY_SECONDS of its start
    restart_at: float | None = None


class Supervisor:
    """Starts the workers, restarts one that dies, and passes a stop signal on to them."""

    def __init__(
        self,
        command: list[str],
        environment: dict[str, str],
        listener: socket.socket,
        loaded: Path,
        workers: int,
    ) -> None:
        self.command, self.environment, self.listener = command, environment, listener
        self.loaded = loaded
        self.workers = [_Worker(number) for number in range(1, workers + 1)]
        self.stopped_by: list[int] = []

    def _start(self, worker: _Worker) -> None:
        # A session of its own: Ctrl-C reaches it once, through us.
        worker.process = subprocess.Popen(
            self.command,
            env=self.environment,
            pass_fds=[self.listener.fileno()],
            start_new_session=True,
        )
        worker.started, worker.restart_at = time.monotonic(), None

    def stop(self, number: int) -> None:
        """A signal handler: note the first stop signal; run() passes it on."""
        if not self.stopped_by:
            self.stopped_by.append(number)

    def run(self, announcement: str) -> int:
        """Serve until a stop signal or a worker that cannot be kept running; the exit code.
        The announcement is printed once every worker has been started."""
        for worker in self.workers:
            self._start(worker)
        print(announcement, flush=True)
        failed = 0
        while not self.stopped_by and not failed:
            time.sleep(POLL_SECONDS)
            failed = next((code for worker in self.workers if (code := self._watch(worker))), 0)
        running = [
            worker.process
            for worker in self.workers
            if worker.process is not None and worker.restart_at is None
        ]
        for process in running:
            process.send_signal(signal.SIGTERM)
        # A worker still starting when the signal came ends by it, as asked: no failure.
        codes = [process.wait() for process in running]
        # Held open for the workers it restarts; closed, it refuses connections (the workers
        # drop new ones from the stop signal on: stopping.py).
        self.listener.close()
        failed = failed or next(
            (exit_status(code) for code in codes if code not in (0, -signal.SIGTERM)), 0
        )
        return failed or (130 if self.stopped_by == [signal.SIGINT] else 0)

    def _watch(self, worker: _Worker) -> int:
        """Restart the worker if it is due; note it if it died. An exit status if the service
        must stop, else 0."""
        now = time.monotonic()
        if worker.restart_at is not None:
            if now >= worker.restart_at:
                self._start(worker)
            return 0
        assert worker.process is not None
        code = worker.process.poll()
        if code is None:
            return 0
        note = self.loaded / str(worker.process.pid)
        had_loaded = note.exists()
        note.unlink(missing_ok=True)  # not ready until its replacement has loaded
        worker.failures = worker.failures + 1 if now - worker.started < STEADY_SECONDS else 1
        died = f"worker {worker.number} (pid {worker.process.pid}) {_how(code)}"
        if (code > 0 and not had_loaded) or worker.failures >= MAX_FAILURES:
            print(
                f"error: {died}, {worker.failures} time(s) in a row; stopping the service.",
                file=sys.stderr,
                flush=True,
            )
            return exit_status(code) or 1
        delay = min(FIRST_DELAY * 2 ** (worker.failures - 1), LONGEST_DELAY)
        print(
            f"warning: {died}; starting it again in {delay:g} s (not ready until it has "
            "loaded the model).",
            file=sys.stderr,
            flush=True,
        )
        worker.restart_at = now + delay
        return 0
