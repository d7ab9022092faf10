"""A generated project's uv set-up beyond the README's Start (which tests/test_readme_commands.py
runs): the Docker image's installs, and the pre-commit checks, run here as commands.

Each locks a copy of the project as a person would (`uv lock`), with only what this machine
needs (bench/uv_here.py). Docker itself is not run: the Dockerfile's `uv sync` lines are run
as written into a fresh environment, which then holds exactly what the image would.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.uv_here import narrow_lock_to_this_machine, uv_folder, uv_variables
from fwstart.api import new_project
from fwstart.questions import Answers

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def locked_project(catalog, tmp_path: Path, framework: str) -> tuple[Path, dict[str, str]]:
    """A server project, locked with `uv lock`, and the environment uv runs in."""
    answers = Answers("deployment", ("server",), "neither", "none", "github", ())
    project = new_project(catalog, tmp_path / "demo-app", answers, framework).path
    narrow_lock_to_this_machine(project)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env |= uv_variables(project)
    env["PATH"] = f"{uv_folder()}{os.pathsep}{BIN}{os.pathsep}{env['PATH']}"
    locked = subprocess.run(
        ["uv", "lock"], cwd=project, env=env, capture_output=True, text=True, check=False
    )
    assert locked.returncode == 0, locked.stderr[-4000:]
    return project, env


def dockerfile_syncs(project: Path) -> list[str]:
    """The `uv sync` commands of the Dockerfile's RUN instructions, as written."""
    text = (project / "Dockerfile").read_text().replace("\\\n", " ")
    return [m.strip() for m in re.findall(r"^RUN .*?(uv sync [^\n]*)$", text, re.M)]


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_docker_image_installs_the_service_from_the_lock_without_dev_tools(
    catalog, tmp_path, framework
):
    project, env = locked_project(catalog, tmp_path, framework)
    syncs = dockerfile_syncs(project)
    assert len(syncs) == 2 and all("--locked --no-dev" in s for s in syncs), syncs
    image = tmp_path / "image-venv"
    env = {**env, "UV_PROJECT_ENVIRONMENT": str(image)}
    for command in syncs:
        done = subprocess.run(
            ["bash", "-c", command], cwd=project, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-4000:]
    python = str(image / "bin" / "python")
    probe = (
        "import importlib.util as u, sys\n"
        "import demo_app.serve\n"
        "print(*(n for n in sys.argv[1:] if u.find_spec(n)))"
    )
    names = ["torch", "tensorflow", "pytest", "ruff", "uvicorn", "onnxruntime", "demo_app"]
    found = subprocess.run(
        [python, "-c", probe, *names], cwd=tmp_path, capture_output=True, text=True
    )
    assert found.returncode == 0, found.stderr[-4000:]
    present = set(found.stdout.split())
    assert "pytest" not in present and "ruff" not in present, "no dev tools in the image"
    assert {"uvicorn", "demo_app"} <= present
    if framework == "pytorch":  # the service runs on ONNX Runtime
        assert "torch" not in present and "onnxruntime" in present
    else:
        assert "tensorflow" in present
    dockerfile = (project / "Dockerfile").read_text()
    final = dockerfile.rsplit("\nFROM ", 1)[1]
    assert "uv" not in final.splitlines()[0] and "--from=build /app/.venv" in final
    assert "\nUSER 10001" in final and "UV_COMPILE_BYTECODE=1" in dockerfile


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_pre_commit_config_is_valid_and_its_checks_pass_run_directly(catalog, tmp_path, framework):
    """pre-commit clones its hooks from GitHub, out of reach here: the configuration is
    validated, and each hook's own command is run as the hook would run it."""
    project, env = locked_project(catalog, tmp_path, framework)
    config = project / ".pre-commit-config.yaml"
    valid = subprocess.run(
        [str(BIN / "pre-commit"), "validate-config", str(config)], capture_output=True, text=True
    )
    assert valid.returncode == 0, valid.stdout + valid.stderr
    hooks = {h["id"]: h for r in yaml.safe_load(config.read_text())["repos"] for h in r["hooks"]}
    commands = {
        "ruff-check": [str(BIN / "ruff"), "check", "--force-exclude", "."],
        "ruff-format": [str(BIN / "ruff"), "format", "--check", "--force-exclude", "."],
        "uv-lock": ["uv", "lock", *hooks["uv-lock"].get("args", [])],
    }
    assert set(hooks) == set(commands)
    for command in commands.values():
        done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
