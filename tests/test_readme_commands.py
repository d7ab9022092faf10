"""The default project of each framework, set up and run exactly as its README's Start says.

`fwstart new my-project --yes` (and `--framework tensorflow`), then a shell block under the
generated README's "## Start", run literally in a fresh project folder with no environment of
its own: uv's route (`uv sync --extra cpu`, `uv run ...`) and pip's (a fresh `.venv`,
`pip install -e ".[cpu]" --group dev`), each with nothing else and no pins: this is what
catches an undeclared dependency. Each installs, trains with the default config, and runs
predict and the project's own tests (its slow tests run in the largest project's suite:
tests/test_starters.py). The only departures are what this machine needs
(bench/uv_here.py): for uv, pip's find-links, a local stand-in for PyTorch's index and the
copy's lock narrowed to this machine; for pip, an extra index it cannot reach is left out.
Then, in that environment, the README's `tensorboard --logdir runs` (with `--inspect`, which
reads the logs and exits), and export: with no target, and for one the project was not made for.
"""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from bench.starter_env import runnable_here, start_blocks
from bench.uv_here import narrow_lock_to_this_machine, uv_folder, uv_variables

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
ROUTES = {"uv": 0, "pip": 1}


def start_block(project: Path, route: str) -> str:
    """A bash block under "Start", as written (but for an index that this machine cannot
    reach: see bench/starter_env.py)."""
    lines = [
        shlex.join(runnable_here(shlex.split(line, comments=True)))
        if line.startswith("pip install")
        else line
        for line in start_blocks(project)[ROUTES[route]].splitlines()
    ]
    return "\n".join(lines)


def shell(script: str, project: Path, route: str = "pip") -> subprocess.CompletedProcess:
    """bash in the project, as a person's terminal: no venv active, fwstart's own env off PATH
    (uv on it, as a person who installed uv has it)."""
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != str(BIN))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    if route == "uv":
        env |= uv_variables(project)
        path = f"{path}{os.pathsep}{uv_folder()}"
    return subprocess.run(
        ["bash", "-c", script],
        cwd=project,
        env={**env, "PATH": path},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "options", [[], ["--framework", "tensorflow"]], ids=["pytorch", "tensorflow"]
)
def test_default_project_runs_as_its_readme_says(tmp_path, options, route):
    new = [str(BIN / "fwstart"), "new", "my-project", "--yes", *options]
    subprocess.run(new, cwd=tmp_path, check=True, capture_output=True)
    project = tmp_path / "my-project"
    if route == "uv":
        narrow_lock_to_this_machine(project)

    done = shell("set -euo pipefail\n" + start_block(project, route), project, route)
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    summary = done.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    metrics = json.loads((project / "runs" / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.95  # what the README's default config promises
    assert (project / "uv.lock").is_file() == (route == "uv")  # the lock the README commits

    logs = shell(". .venv/bin/activate && tensorboard --logdir runs --inspect", project)
    assert logs.returncode == 0 and "Event statistics" in logs.stdout, logs.stderr[-2000:]

    nothing = shell(". .venv/bin/activate && python -m my_project.export", project)
    assert nothing.returncode == 0 and "Nothing to export" in nothing.stdout, nothing.stderr
    assert "fwstart update --add-target" in nothing.stdout

    web = shell(". .venv/bin/activate && python -m my_project.export --target web", project)
    assert web.returncode == 1 and "Traceback" not in web.stderr, web.stderr
    assert web.stderr.count("\n") == 1 and "fwstart update --add-target web" in web.stderr


@pytest.mark.parametrize(
    "options", [[], ["--framework", "tensorflow"]], ids=["pytorch", "tensorflow"]
)
def test_without_a_framework_extra_the_package_says_which_to_install(tmp_path, options):
    """`uv sync` alone (the project and its dev group, no cpu or cuda extra): importing the
    package fails with one line naming the extra, not a traceback from deep inside."""
    new = [str(BIN / "fwstart"), "new", "bare", "--yes", *options]
    subprocess.run(new, cwd=tmp_path, check=True, capture_output=True)
    project = tmp_path / "bare"
    narrow_lock_to_this_machine(project)
    synced = shell("uv sync", project, "uv")
    assert synced.returncode == 0, synced.stderr[-4000:]
    done = shell("uv run python -c 'import bare'", project, "uv")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError:") and "uv sync --extra cpu" in last, done.stderr
