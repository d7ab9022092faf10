"""One training run at a time in a run_dir.

Two runs in one folder would resume from the same state, log over each other and delete
each other's image cache. The lock is the operating system's (flock, through the filelock
library): it dies with the process that holds it, so a run killed or requeued (on this node
or another that shares the folder) is never refused by a lock its predecessor left behind.
"""

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

LOCK = "train.lock"
HOLDER = "train.lock.holder"  # who holds it, for the message a second run prints


@contextmanager
def held(run_dir: Path, take: bool = True) -> Iterator[None]:
    """Hold run_dir's lock for the body (``take`` False: a process that writes nothing there).

    Raises:
        ValueError: another live process holds it (the message names that process).
    """
    if not take:
        yield
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(run_dir / LOCK, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ValueError(
            f"{run_dir} is in use by another training run ({holder(run_dir)}). "
            "Wait for it to finish or stop it, or train into another folder: "
            "--set run_dir=..."
        ) from None
    try:
        (run_dir / HOLDER).write_text(
            f"process {os.getpid()} on {socket.gethostname()} since "
            f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n"
        )
        yield
    finally:
        (run_dir / HOLDER).unlink(missing_ok=True)  # while held: never the next holder's
        lock.release()


def holder(run_dir: Path) -> str:
    """Who holds run_dir's lock, as that process wrote it."""
    try:
        return (run_dir / HOLDER).read_text().strip() or "a process that is starting"
    except OSError:
        return "a process that is starting"
