"""Turn the project's directory name into a Python package name."""

import keyword
import os
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from fwstart.errors import InputError


def stdlib_names() -> frozenset[str]:
    """Every top-level module of the standard library.

    ``sys.stdlib_module_names`` leaves out the ``test`` package on purpose (its docs
    say so), yet ``python -m test.train`` would find it before the project's package.
    """
    return frozenset(sys.stdlib_module_names) | {"test"}


def _check_characters(name: str) -> None:
    """Refuse a name that is not UTF-8 text, or that holds a control character."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raw = os.fsencode(name)
        raise InputError(
            f"The directory name {raw!r} is not valid UTF-8, so it cannot name a project.",
            "Pick a name made of letters, digits and dashes, e.g. 'digits-demo'.",
        ) from None
    if control := next((c for c in name if unicodedata.category(c).startswith("C")), None):
        raise InputError(
            f"The directory name {name!r} holds the control character {control!r}.",
            "Pick a name made of letters, digits and dashes, e.g. 'digits-demo'.",
        )


@dataclass(frozen=True)
class ProjectNames:
    """The names a project is known by.

    Attributes:
        project: the directory name, as the person typed it (shown in the README).
        package: the import name of the project's Python package.
        distribution: the name in pyproject.toml (``pip install <distribution>``).
    """

    project: str
    package: str
    distribution: str


def project_names(directory: Path, reserved: frozenset[str] = frozenset()) -> ProjectNames:
    """Derive the package and distribution names from a project directory.

    ``demo-pt`` becomes ``demo_pt``; spaces, dashes and other punctuation become
    underscores; a Python keyword gets a trailing underscore (``class_``).

    Args:
        directory: the project directory (only its last part is used).
        reserved: module names the project's package must not shadow, such as
            the framework it imports.

    Raises:
        InputError: when no usable package name can be made from the name.
    """
    project = directory.name
    _check_characters(project)
    ascii_name = unicodedata.normalize("NFKD", project).encode("ascii", "ignore").decode()
    package = re.sub(r"[^0-9a-z]+", "_", ascii_name.lower()).strip("_")
    hint = "Pick a directory name that starts with a letter, e.g. 'digits-demo'."
    if not package:
        raise InputError(f"Cannot make a Python package name from '{project}'.", hint)
    if package[0].isdigit():
        raise InputError(
            f"'{project}' would give the package name '{package}', "
            "and Python package names cannot start with a digit.",
            hint,
        )
    if keyword.iskeyword(package):
        package += "_"
    if package in stdlib_names() or package in reserved:
        stdlib = package in stdlib_names()
        owner = "the standard library" if stdlib else "a package the starter uses"
        raise InputError(
            f"'{project}' would give the package name '{package}', which hides the "
            f"module '{package}' of {owner}.",
            "Pick another directory name, e.g. 'my-" + package.replace("_", "-") + "'.",
        )
    return ProjectNames(project=project, package=package, distribution=package.replace("_", "-"))
