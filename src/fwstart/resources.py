"""Where fwstart's data/ and templates/ folders are.

An installed wheel carries them inside the package (``fwstart/_bundled``); a
source checkout or an editable install reads them from the repository root.
"""

import os
from pathlib import Path

from fwstart.errors import TemplateError

_PACKAGE_DIR = Path(__file__).resolve().parent


def bundled_root() -> Path:
    """Return the folder that holds ``data/`` and ``templates/``."""
    packaged = _PACKAGE_DIR / "_bundled"
    if packaged.is_dir():
        return packaged
    return _PACKAGE_DIR.parent.parent


def data_dir() -> Path:
    """Return the folder of questions, frameworks and verdict rules."""
    return bundled_root() / "data"


def templates_dir() -> Path:
    """Return the folder that holds one cookiecutter template per framework.

    ``FWSTART_TEMPLATES`` names another such folder: a copy being edited, for
    trying ``fwstart update`` (and ``new``) with a changed template.
    """
    if override := os.environ.get("FWSTART_TEMPLATES"):
        folder = Path(override).expanduser().absolute()
        if not folder.is_dir():
            raise TemplateError(
                f"FWSTART_TEMPLATES names {folder}, which is not a folder.",
                "Point it at a copy of fwstart's templates/ folder, or unset it.",
            )
        return folder
    return bundled_root() / "templates"
