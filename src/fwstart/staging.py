"""The hidden folders a project is rendered into before it is moved into place.

A run that is killed outright (SIGKILL, a power cut) cannot remove its own, so each
one is named after the process that made it (``.fwstart-<pid>-XXXXXXXX``) and holds a
marker naming the machine; a later run removes those whose process is gone. A
folder fwstart did not make, or one of a process still running, is left alone.
"""

import contextlib
import os
import platform
import re
import shutil
import tempfile
from pathlib import Path

MARKER = ".fwstart-staging"
STAGING_NAME = re.compile(r"\.fwstart-(\d+)-\w{8}")


def make_staging(parent: Path) -> Path:
    """Make a staging folder in ``parent``, after removing stale ones there."""
    remove_stale(parent)
    staging = Path(tempfile.mkdtemp(prefix=f".fwstart-{os.getpid()}-", dir=parent))
    try:
        (staging / MARKER).write_text(_machine(), encoding="utf-8")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # unmarked, no later run would remove it
        raise
    return staging


def remove_stale(parent: Path) -> list[Path]:
    """Remove the staging folders in ``parent`` left by fwstart runs that were killed.

    Returns:
        The folders removed.
    """
    removed = []
    for path in parent.glob(".fwstart-*-*"):
        match = STAGING_NAME.fullmatch(path.name)
        if match is None or path.is_symlink() or not path.is_dir() or _running(int(match[1])):
            continue
        if _marker(path) in (_machine(), ""):  # "": killed while writing its marker
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        else:  # killed before writing its marker: removed only while empty
            with contextlib.suppress(OSError):
                path.rmdir()
                removed.append(path)
    return removed


def _marker(path: Path) -> str | None:
    """The marker's text; only a folder holding nothing else may have an empty one."""
    try:
        text = (path / MARKER).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return text if text or [p.name for p in path.iterdir()] == [MARKER] else None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process (or a number we cannot ask about): keep it
    return True


def _machine() -> str:
    """Process ids only mean something on the machine that gave them out."""
    return f"fwstart staging folder, made on {platform.node()}\n"
