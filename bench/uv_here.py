"""What uv needs on this machine to install as a README says, and nothing more.

uv does not read pip's configuration, so pip's find-links folders (where the CPU wheel of torch
lies here) are passed on as UV_FIND_LINKS; a named index this machine cannot reach (PyTorch's)
is pointed at a simple-API folder made from those wheels (UV_INDEX: a bare folder of wheels is
not read as an index); and then the copy being installed has its lock narrowed to this machine
(`[tool.uv] environments`), since one wheel for one Python cannot satisfy a universal lock.
Nothing here is written into a project but that narrowing, and only into a copy under test.
"""

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("FWSTART_CACHE", ROOT / ".cache"))
UV_VERSION = "0.13.9"  # the uv that builds the environments: fwstart's test group pins it


@cache
def reachable(url: str) -> bool:
    """Whether this machine can open a connection to the URL's host."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 443), timeout=5):
            return True
    except OSError:
        return False


def find_links() -> list[str]:
    """pip's find-links folders on this machine (uv does not read pip's configuration)."""
    return os.environ.get("PIP_FIND_LINKS", "").split()


def local_index() -> Path:
    """A simple-API folder (an index.html per package) of the wheels in pip's find-links: what
    uv reads in place of an index this machine cannot reach."""
    index = CACHE / "uv-index"
    wheels = sorted(w for folder in find_links() for w in Path(folder).glob("*.whl"))
    by_name: dict[str, list[Path]] = {}
    for wheel in wheels:
        by_name.setdefault(wheel.name.split("-")[0].lower().replace("_", "-"), []).append(wheel)
    for name, files in by_name.items():
        (index / name).mkdir(parents=True, exist_ok=True)
        links = "".join(f'<a href="{w.as_uri()}">{w.name}</a>\n' for w in files)
        (index / name / "index.html").write_text(f"<html><body>\n{links}</body></html>\n")
    return index


def unreachable_indexes(project: Path) -> list[str]:
    """The names of the project's uv indexes that this machine cannot reach."""
    settings = tomllib.loads((project / "pyproject.toml").read_text())
    indexes = settings.get("tool", {}).get("uv", {}).get("index", [])
    return [index["name"] for index in indexes if not reachable(index["url"])]


def uv_folder() -> Path:
    """A folder holding only uv (the one beside this Python), to put on a PATH."""
    folder = CACHE / "uv-bin"
    found = Path(sys.executable).parent / "uv"
    uv = found if found.is_file() else Path(shutil.which("uv") or "uv")
    version = subprocess.run([uv, "--version"], capture_output=True, text=True, check=True)
    if version.stdout.split()[1] != UV_VERSION:
        raise RuntimeError(f"{uv} is {version.stdout.strip()}; the bench pins uv {UV_VERSION}")
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "uv"
    if not link.exists() or link.resolve() != uv.resolve():
        link.unlink(missing_ok=True)
        link.symlink_to(uv.resolve())
    return folder


def uv_variables(project: Path, constraints: Path | None = None) -> dict[str, str]:
    """uv's settings for this machine, added to the process environment (see the module's
    docstring); with ``constraints``, a settings file holding them as constraint-dependencies.
    """
    variables = {
        "UV_CACHE_DIR": str(CACHE / "uv"),
        "UV_PYTHON_DOWNLOADS": "never",
    }
    if links := find_links():
        variables["UV_FIND_LINKS"] = ",".join(links)
    if names := unreachable_indexes(project):
        uri = local_index().as_uri()
        variables["UV_INDEX"] = " ".join(f"{name}={uri}" for name in names)
    if constraints is not None:
        lines = constraints.read_text().splitlines()
        pins = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
        settings = CACHE / f"uv-{constraints.stem}.toml"
        settings.write_text(f"constraint-dependencies = {json.dumps(pins)}\n")
        variables["UV_CONFIG_FILE"] = str(settings)
    return variables


def narrow_lock_to_this_machine(project: Path) -> None:
    """Add `[tool.uv] environments` for this platform and Python to the project's copy, where
    an index is overridden by a folder of this machine's wheels (a universal lock cannot be
    resolved from them). The copy's only edit."""
    if not unreachable_indexes(project):
        return
    marker = (
        f"sys_platform == '{sys.platform}' and platform_machine == '{platform.machine()}'"
        f" and python_version == '{sys.version_info.major}.{sys.version_info.minor}'"
    )
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    if "\nenvironments = " not in text:
        line = f"environments = [{json.dumps(marker)}]\n"
        pyproject.write_text(text.replace("\n[tool.uv]\n", f"\n[tool.uv]\n{line}", 1))
