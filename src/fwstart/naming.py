"""Turn the project's directory name into a Python package name."""

import keyword
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from fwstart.errors import InputError


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
    if package in reserved or package in sys.stdlib_module_names:
        raise InputError(
            f"'{project}' would give the package name '{package}', which hides the "
            f"module '{package}' that the project itself needs to import.",
            "Pick another directory name, e.g. 'my-" + package + "'.",
        )
    return ProjectNames(project=project, package=package, distribution=package.replace("_", "-"))
