"""The one environment where generated starters run, for fwstart's tests and benchmarks.

Created on first use in .cache/starter-env (or $FWSTART_CACHE/starter-env) with the
versions pinned in starter-constraints.txt, and reused while those pins are unchanged.
"""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = Path(__file__).parent / "starter-constraints.txt"
CACHE = Path(os.environ.get("FWSTART_CACHE", ROOT / ".cache"))
# Besides the pins: what the starters and their builds (without isolation) need.
UNPINNED = ["pillow", "pyyaml", "tqdm", "pytest", "ruff", "hatchling", "editables"]


def pinned_packages() -> list[str]:
    lines = CONSTRAINTS.read_text().splitlines()
    return [line.split("==")[0] for line in lines if line and not line.startswith("#")]


def starter_environment() -> dict[str, str]:
    """Process environment variables that put the shared starter environment first on PATH."""
    env_dir = CACHE / "starter-env"
    stamp = env_dir / ".constraints-sha256"
    digest = hashlib.sha256(CONSTRAINTS.read_bytes() + " ".join(UNPINNED).encode()).hexdigest()
    if not stamp.is_file() or stamp.read_text() != digest:
        shutil.rmtree(env_dir, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
        install = [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run(
            [*install, "-c", str(CONSTRAINTS), *pinned_packages(), *UNPINNED], check=True
        )
        stamp.write_text(digest)
    return {
        **os.environ,
        "PATH": f"{env_dir / 'bin'}:{os.environ['PATH']}",
        "VIRTUAL_ENV": str(env_dir),
        "TFJS_CONVERTER_ENV": str(CACHE / "tfjs-converter"),
        "PYTHONPATH": "",
    }


def run(*command: str, cwd: Path, env: dict[str, str], timeout: int = 900) -> str:
    """Run a command; on failure, raise with the end of its output."""
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result.stdout


def install_project(project: Path, env: dict[str, str]) -> None:
    """pip install -e ".[dev]" as a starter's README says, held to the pinned versions."""
    run(
        "python",
        "-m",
        "pip",
        "install",
        "-q",
        "--no-build-isolation",
        "-c",
        str(CONSTRAINTS),
        "-e",
        ".[dev]",
        cwd=project,
        env=env,
    )
    if (project / "web" / "package-lock.json").is_file():
        run("npm", "ci", "--prefix", "web", "--no-audit", "--no-fund", cwd=project, env=env)


def light_python(runtime: str) -> Path:
    """A fresh environment with only NumPy and one runtime (an edge device's set-up)."""
    env_dir = CACHE / f"edge-{runtime}"
    python = env_dir / "bin" / "python"
    if not (env_dir / ".complete").is_file():
        shutil.rmtree(env_dir, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-c", str(CONSTRAINTS), "numpy", runtime],
            check=True,
        )
        (env_dir / ".complete").touch()
    return python
