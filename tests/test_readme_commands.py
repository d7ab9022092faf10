"""The default project of each framework, set up and run exactly as its README's Start says.

`fwstart new my-project --yes` (and `--framework tensorflow`), then the shell block under the
generated README's "## Start", run literally in a fresh project folder: it makes its own
`.venv`, installs with `pip install -e ".[dev]"` (nothing else, no pins: this is what catches
an undeclared dependency), trains with the default config, and runs predict and the project's
own tests. Then, in that venv, the README's `tensorboard --logdir runs` (with `--inspect`, which
reads the logs and exits), and export: with no target, and for one the project was not made for.
"""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from bench.starter_env import runnable_here

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def start_block(project: Path) -> str:
    """The README's first bash block under "## Start", as written (but for an index that this
    machine cannot reach: see bench/starter_env.py)."""
    text = (project / "README.md").read_text()
    block = text.split("## Start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [
        shlex.join(runnable_here(shlex.split(line, comments=True)))
        if line.startswith("pip install")
        else line
        for line in block.splitlines()
    ]
    return "\n".join(lines)


def shell(script: str, project: Path) -> subprocess.CompletedProcess:
    """bash in the project, as a person's terminal: no venv active, fwstart's own env off PATH."""
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != str(BIN))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return subprocess.run(
        ["bash", "-c", script],
        cwd=project,
        env={**env, "PATH": path},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


@pytest.mark.parametrize(
    "options", [[], ["--framework", "tensorflow"]], ids=["pytorch", "tensorflow"]
)
def test_default_project_runs_as_its_readme_says(tmp_path, options):
    new = [str(BIN / "fwstart"), "new", "my-project", "--yes", *options]
    subprocess.run(new, cwd=tmp_path, check=True, capture_output=True)
    project = tmp_path / "my-project"

    done = shell("set -euo pipefail\n" + start_block(project), project)
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    summary = done.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    metrics = json.loads((project / "runs" / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.95  # what the README's default config promises
    # The tests the README's pytest leaves out, as the project's CI runs them.
    slow = shell(". .venv/bin/activate && pytest -m slow", project)
    assert slow.returncode == 0, f"{slow.stdout[-4000:]}\n{slow.stderr[-4000:]}"
    assert " passed" in slow.stdout.strip().splitlines()[-1], slow.stdout[-2000:]

    logs = shell(". .venv/bin/activate && tensorboard --logdir runs --inspect", project)
    assert logs.returncode == 0 and "Event statistics" in logs.stdout, logs.stderr[-2000:]

    nothing = shell(". .venv/bin/activate && python -m my_project.export", project)
    assert nothing.returncode == 0 and "Nothing to export" in nothing.stdout, nothing.stderr
    assert "fwstart update --add-target" in nothing.stdout

    web = shell(". .venv/bin/activate && python -m my_project.export --target web", project)
    assert web.returncode == 1 and "Traceback" not in web.stderr, web.stderr
    assert web.stderr.count("\n") == 1 and "fwstart update --add-target web" in web.stderr
