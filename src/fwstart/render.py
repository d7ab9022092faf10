"""Render a framework's cookiecutter template into place, atomically.

The template is rendered into a temporary folder beside the destination, checked,
and only then moved into place, so a failure or Ctrl-C leaves no partial project.
Values typed by the person are passed to the template as data: they are never
rendered as templates themselves.
"""

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path

from fwstart.answers_file import write_answers
from fwstart.checks import check_project
from fwstart.engine import render_template
from fwstart.errors import DestinationError
from fwstart.staging import STAGING_NAME, make_staging

StepCallback = Callable[[str], None]
_TEMPLATE_MARKERS = re.compile(r"\{\{|\{%|\{#")


def check_destination(destination: Path, force: bool) -> None:
    """Refuse a destination that cannot take a new project, before any work.

    Links are looked at, never followed: a broken link is not a free name.

    Raises:
        DestinationError: when the path is a file or a broken link, it goes through
            one, it is not UTF-8, or it is a non-empty directory and ``force`` is off;
            also for what the system says about it (name too long, permission denied).
    """
    with environment_errors(destination):
        _check_path_text(destination.parent)
        if os.path.lexists(destination) and not destination.is_dir():
            raise DestinationError(
                f"{destination} {_what_is(destination)}.", "Choose a new directory name."
            )
        if blocker := next(
            (p for p in destination.parents if os.path.lexists(p) and not p.is_dir()), None
        ):
            raise DestinationError(
                f"{blocker} {_what_is(blocker)}, so {destination} cannot be created.",
                "Choose a directory path that does not go through it.",
            )
        if destination.is_dir() and any(destination.iterdir()) and not force:
            raise DestinationError(
                f"{destination} already exists and is not empty.",
                "Choose a new directory, or pass --force to add the starter's files to it "
                "(if any of its files is already there, nothing is written).",
            )


def _what_is(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return f"is a broken symbolic link (to {os.readlink(path)})"
    return "is a file" if path.is_file() else "exists and is not a directory"


def _check_path_text(folder: Path) -> None:
    try:
        str(folder).encode("utf-8")
    except UnicodeEncodeError:
        raise DestinationError(
            f"The folder {os.fsencode(folder)!r} has a name that is not valid UTF-8.",
            "Rename it, or make the project in another folder.",
        ) from None


_HINTS = {
    errno.ENOSPC: "Free some disk space, or choose a folder on another disk.",
    errno.EDQUOT: "Free some disk space, or choose a folder on another disk.",
    errno.EFBIG: "Raise the file size limit (ulimit -f), or choose another folder.",
    errno.ENAMETOOLONG: "Choose a shorter directory name or path.",
    errno.EACCES: "Choose a folder you can write to.",
    errno.EPERM: "Choose a folder you can write to.",
    errno.EROFS: "Choose a folder on a writable disk.",
}


@contextlib.contextmanager
def environment_errors(destination: Path) -> Iterator[None]:
    """Report what the system refused (disk full, permissions, path limits) as the
    person's to fix, with the system's reason and the path, rather than as a bug."""
    try:
        yield
    except OSError as error:
        while error.errno is None and isinstance(error.__cause__, OSError):
            error = error.__cause__  # cookiecutter wraps some of them without the reason
        path = str(error.filename or destination)
        if STAGING_NAME.search(path) or not os.path.isabs(path):
            path = str(destination)  # a staging or template path means nothing to the person
        reason = error.strerror or str(error)
        raise DestinationError(
            f"Cannot write the project: {reason} ({path}).",
            _HINTS.get(error.errno or 0, "Nothing was written. Choose another directory."),
        ) from error


def render_project(
    template: Path,
    context: Mapping[str, object],
    destination: Path,
    record: Mapping[str, object],
    user_text: Collection[str],
    on_step: StepCallback = lambda step: None,
) -> tuple[Path, ...]:
    """Render ``template`` with ``context`` into ``destination``.

    Args:
        template: a cookiecutter template folder.
        context: a value for every variable in the template's cookiecutter.json.
        destination: the project directory; missing or empty, or (after
            ``check_destination`` with force) holding no file the template writes.
        record: the answers record written to ``.fwstart-answers.yml``.
        user_text: text the person typed, allowed to look like template syntax.
        on_step: called with a short description as each step starts.

    Returns:
        The files written, relative to ``destination``.
    """
    with environment_errors(destination):
        return _render(template, context, destination, record, user_text, on_step)


def _render(
    template: Path,
    context: Mapping[str, object],
    destination: Path,
    record: Mapping[str, object],
    user_text: Collection[str],
    on_step: StepCallback,
) -> tuple[Path, ...]:
    created = _make_parents(destination)
    staging: Path | None = None
    try:
        staging = make_staging(_staging_parent(destination))
        on_step("Rendering the template")
        rendered = render_template(template, context, staging)
        write_answers(rendered, record)
        on_step("Checking the generated files")
        check_project(rendered, user_text)
        on_step("Moving the project into place")
        return _move_into_place(rendered, destination)
    except BaseException:
        _remove(staging)  # first: it may sit in a folder made below
        for folder in reversed(created):  # only the folders this run made, if still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    finally:
        _remove(staging)


def _remove(staging: Path | None) -> None:
    if staging is not None:
        shutil.rmtree(staging, ignore_errors=True)


def _make_parents(destination: Path) -> list[Path]:
    """Create the destination's missing parent folders; return them, outermost first."""
    missing = [parent for parent in destination.parents if not parent.exists()][::-1]
    for folder in missing:
        folder.mkdir()
    return missing


def _staging_parent(destination: Path) -> Path:
    """Beside the destination, so the final move is an atomic rename.

    cookiecutter renders each folder's absolute path as a template, so a path that
    holds template syntax (a folder named '{{ x }}') is staged in the system's
    temporary folder instead, and copied into place.
    """
    if _TEMPLATE_MARKERS.search(str(destination.parent)):
        return Path(tempfile.gettempdir())
    return destination.parent


def _move_into_place(rendered: Path, destination: Path) -> tuple[Path, ...]:
    files = tuple(sorted(p.relative_to(rendered) for p in rendered.rglob("*") if p.is_file()))
    if not os.path.lexists(destination):
        shutil.move(rendered, destination)  # a rename when staged beside it
        return files
    if clashes := [str(f) for f in files if _taken(destination, f)]:
        raise DestinationError(
            f"{destination} already holds files the starter would write: {', '.join(clashes)}.",
            "Nothing was written. Move those files away, or choose a new directory.",
        )
    created: list[Path] = []  # files and folders this run made, in order
    try:
        for relative in files:
            for parent in reversed(relative.parents[:-1]):
                if not os.path.lexists(destination / parent):
                    (destination / parent).mkdir()
                    created.append(destination / parent)
            shutil.move(rendered / relative, destination / relative)
            created.append(destination / relative)
    except BaseException:
        for path in reversed(created):  # undo only what this run made
            path.rmdir() if path.is_dir() else path.unlink(missing_ok=True)
        raise
    return files


def _taken(root: Path, relative: Path) -> bool:
    """Whether writing ``root / relative`` would replace anything or go through a link."""
    folder = root
    for part in relative.parts[:-1]:
        folder = folder / part
        if folder.is_symlink() or (os.path.lexists(folder) and not folder.is_dir()):
            return True
    return os.path.lexists(root / relative)
