"""What every `fwstart` command (cli.py, cli_update.py) shares: its consoles, and how an error
becomes a message and an exit code."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from fwstart.errors import FwstartError

EXIT_USER_ERROR, EXIT_CONFLICTS, EXIT_BUG, EXIT_CANCELLED = 1, 3, 70, 130
OUT_OF_MEMORY = (
    "Error: fwstart ran out of memory. Nothing was written.\n"
    "Close other programs, or raise this shell's memory limit (ulimit -v).\n"
)

F = TypeVar("F", bound=Callable[..., None])
state = {"debug": False}  # set by the --debug flag, before any command runs


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    # Paths and names are printed as typed: no markup, no :emoji: codes (nor their table).
    return Console(stderr=stderr, highlight=False, markup=False, emoji=False)


def reported(command: F) -> F:
    """Turn fwstart's errors into a message and exit code; keep bugs' tracebacks for --debug."""

    @functools.wraps(command)
    def wrapper(*args: object, **kwargs: object) -> None:
        from fwstart.errors import FwstartError

        err = console(stderr=True)
        try:
            command(*args, **kwargs)
        except FwstartError as error:
            _report_error(err, error)
            raise typer.Exit(EXIT_USER_ERROR) from None
        except KeyboardInterrupt:
            err.print("Cancelled. Nothing was written.")
            raise typer.Exit(EXIT_CANCELLED) from None
        except typer.Exit:  # a command's own exit status
            raise
        except MemoryError:  # the machine's limit, not a bug; said without allocating more
            sys.stderr.write(OUT_OF_MEMORY)
            raise typer.Exit(EXIT_USER_ERROR) from None
        except Exception as bug:
            if state["debug"]:
                raise
            _report_bug(err, bug)
            raise typer.Exit(EXIT_BUG) from None

    return wrapper  # type: ignore[return-value]


def _report_error(err: Console, error: FwstartError) -> None:
    err.print(f"Error: {error.message}", style="bold red", soft_wrap=True)
    if error.hint:
        err.print(error.hint, soft_wrap=True)


def _report_bug(err: Console, bug: Exception) -> None:
    where = f"at {url}" if (url := issues_url()) else "to whoever gave you fwstart"
    err.print(
        f"fwstart hit a bug ({type(bug).__name__}: {bug}).\n"
        f"Run the same command with --debug for the details, and report it {where}."
    )


def issues_url() -> str | None:
    """Where to report a bug: the "Issues" entry of pyproject's [project.urls], if declared."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        entries = metadata("fwstart").get_all("Project-URL") or []
    except PackageNotFoundError:
        return None
    urls = dict(entry.split(", ", 1) for entry in entries if ", " in entry)
    return urls.get("Issues")


def note_printer(err: Console) -> Callable[[str], None]:
    """Prints a note, such as an option added because another needs it."""
    return lambda note: err.print(f"Note: {note}", soft_wrap=True)
