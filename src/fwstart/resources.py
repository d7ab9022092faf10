"""Where fwstart's data/ and templates/ folders are.

An installed wheel carries them inside the package (``fwstart/_bundled``); a
source checkout or an editable install reads them from the repository root.
"""

from pathlib import Path

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
    """Return the folder that holds one cookiecutter template per framework."""
    return bundled_root() / "templates"
