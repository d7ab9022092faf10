"""One environment per framework where generated starters run, for fwstart's tests and benchmarks.

Each is built from nothing but the install command in the README of that framework's largest
generated project (every target and option), run as the README writes it — `uv sync --extra
cpu` — held to constraints-<framework>.txt, which only pins versions of distributions that
project already requires (uv reads them as `constraint-dependencies` from a settings file of
its own: `uv sync` has no `-c`). The environments are never shared between frameworks. Each
lives in .cache/env-<framework> (or $FWSTART_CACHE) and is reused while the digest of its
constraints and of the largest project's pyproject.toml is unchanged. Smaller projects of the
same framework are installed into it with the same command and `--inexact` (which leaves the
largest project's packages in place).

What this machine needs, and nothing more (bench/uv_here.py; the environment's record says
what was run): pip's find-links and a local stand-in for PyTorch's index, for uv, and the
copy's lock narrowed to this machine. pip's route leaves out an `--extra-index-url` it cannot
reach.
"""

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.uv_here import (
    CACHE,
    narrow_lock_to_this_machine,
    reachable,
    uv_folder,
    uv_variables,
)
from fwstart.api import load_catalog, new_project
from fwstart.questions import Answers

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).parent
FRAMEWORKS = ("pytorch", "tensorflow")
EVERY_TARGET = ("mobile", "web", "edge", "server")
# Written into each environment: the project it was built from and the exact commands.
RECORD = "fwstart-built-with.json"
LIGHTNING = "pytorch-lightning==2.6.6"  # for the benchmarks: its newest release; accepts torch 2.13


@dataclass(frozen=True)
class StarterEnv:
    """A framework's environment: where it is, and the pins its installs are held to."""

    framework: str
    directory: Path
    constraints: Path

    @property
    def variables(self) -> dict[str, str]:
        """Process environment variables that put this environment first on PATH."""
        return {
            **os.environ,
            "PATH": f"{self.directory / 'bin'}:{os.environ['PATH']}",
            "VIRTUAL_ENV": str(self.directory),
            "UV_PROJECT_ENVIRONMENT": str(self.directory),
            "PYTHONPATH": "",
        }

    @property
    def record(self) -> dict:
        """What the environment was built from: the project and the commands run."""
        return json.loads((self.directory / RECORD).read_text())


def constraints_file(framework: str) -> Path:
    return HERE / f"constraints-{framework}.txt"


def largest_project(destination: Path, framework: str) -> Path:
    """The framework's project with every target and option, the service and CI: what it
    installs is all."""
    catalog = load_catalog()
    every_option = tuple(catalog.by_key["with"].choices)
    answers = Answers("deployment", EVERY_TARGET, "neither", "none", "github", every_option)
    return new_project(catalog, destination, answers, framework).path


def start_blocks(project: Path) -> list[str]:
    """The bash blocks of the README's "Start" section: uv's route first, then pip's."""
    text = (project / "README.md").read_text()
    section = text.split("\n## Start\n", 1)[1].split("\n## ", 1)[0]
    return [part.split("```", 1)[0] for part in section.split("```bash\n")[1:]]


def readme_install_commands(project: Path, route: int = 0) -> list[list[str]]:
    """The install lines (uv sync, pip install, npm ci) of a Start block (0: uv, 1: pip)."""
    commands = [
        shlex.split(line, comments=True) for line in start_blocks(project)[route].splitlines()
    ]
    installs = (["uv", "sync"], ["pip", "install"], ["npm", "ci"])
    return [c for c in commands if c[:2] in installs]


def runnable_here(command: list[str]) -> list[str]:
    """The command without `--extra-index-url URL` where that index cannot be reached."""
    kept: list[str] = []
    for word in command:
        if kept[-1:] == ["--extra-index-url"] and not reachable(word):
            kept.pop()
        else:
            kept.append(word)
    return kept


def starter_environment(framework: str) -> StarterEnv:
    """The framework's environment, built on first use and reused while its digest holds."""
    starter = StarterEnv(framework, CACHE / f"env-{framework}", constraints_file(framework))
    source = CACHE / f"env-{framework}-project"
    with tempfile.TemporaryDirectory() as scratch:
        fresh = largest_project(Path(scratch) / f"largest-{framework}", framework)
        pyproject = (fresh / "pyproject.toml").read_bytes()
        digest = hashlib.sha256(starter.constraints.read_bytes() + pyproject).hexdigest()
        stamp = starter.directory / ".digest"
        if stamp.is_file() and stamp.read_text() == digest and source.is_dir():
            return starter
        shutil.rmtree(starter.directory, ignore_errors=True)
        shutil.rmtree(source, ignore_errors=True)
        shutil.move(fresh, source)
    subprocess.run([sys.executable, "-m", "venv", str(starter.directory)], check=True)
    commands = install_project(source, starter, python_only=True)
    (starter.directory / RECORD).write_text(
        json.dumps({"project": str(source), "commands": commands}, indent=2)
    )
    stamp.write_text(digest)
    return starter


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


def install_project(
    project: Path, starter: StarterEnv, python_only: bool = False
) -> list[list[str]]:
    """Run the README's uv install lines in the project, into the starter's environment and
    held to its pins; return them. The first install builds the environment; later ones add
    to it (`--inexact`).

    ``python_only`` leaves out `npm ci` (which fills the project's web/, not the environment).
    """
    narrow_lock_to_this_machine(project)
    uv = uv_variables(project, starter.constraints)
    variables = {**starter.variables, **uv, "PATH": f"{starter.variables['PATH']}:{uv_folder()}"}
    built = (starter.directory / ".digest").is_file()
    commands = []
    for command in readme_install_commands(project):
        if command[0] == "uv" and built:
            command = [*command, "--inexact"]
        elif command[0] != "uv" and python_only:
            continue
        run(*command, cwd=project, env=variables)
        commands.append(command)
    return commands


def lightning_overlay(pytorch: StarterEnv) -> dict[str, str]:
    """The PyTorch environment plus PyTorch Lightning, leaving that environment as its README
    made it: a venv whose site-packages adds the PyTorch environment's (a .pth file)."""
    overlay = CACHE / "bench-lightning"
    stamp = overlay / ".digest"
    digest = (pytorch.directory / ".digest").read_text() + LIGHTNING
    variables = {
        **pytorch.variables,
        "PATH": f"{overlay / 'bin'}:{pytorch.variables['PATH']}",
        "VIRTUAL_ENV": str(overlay),
    }
    if stamp.is_file() and stamp.read_text() == digest:
        return variables
    shutil.rmtree(overlay, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(overlay)], check=True)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    base = run("python", "-c", purelib, cwd=ROOT, env=pytorch.variables).strip()
    own = run("python", "-c", purelib, cwd=ROOT, env=variables).strip()
    (Path(own) / "starter-env.pth").write_text(f"import site; site.addsitedir({base!r})\n")
    run(
        "python", "-m", "pip", "install", "-q", "-c", str(pytorch.constraints), LIGHTNING,
        cwd=ROOT, env=variables,
    )  # fmt: skip
    stamp.write_text(digest)
    return variables


def light_python(runtime: str, constraints: Path) -> Path:
    """A fresh environment with only NumPy and one runtime (an edge device's set-up)."""
    env_dir = CACHE / f"edge-{runtime}"
    python = env_dir / "bin" / "python"
    if not (env_dir / ".complete").is_file():
        shutil.rmtree(env_dir, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-c", str(constraints), "numpy", runtime],
            check=True,
        )
        (env_dir / ".complete").touch()
    return python
