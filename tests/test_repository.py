"""The repository keeps its promises: clean code, and CI runs exactly what README says."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.uv_here import uv_folder, uv_variables

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_code_is_lint_clean_and_typed():
    ruff = subprocess.run(
        [BIN / "ruff", "check", "--no-cache", "src", "tests", "bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ruff.returncode == 0, ruff.stdout
    formatted = subprocess.run(
        [BIN / "ruff", "format", "--check", "--no-cache", "src", "tests", "bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert formatted.returncode == 0, formatted.stdout
    mypy = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert mypy.returncode == 0, mypy.stdout


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return [line for block in blocks for line in block.strip().splitlines()]


def test_readme_set_up_is_two_commands_and_ci_runs_the_test_one():
    set_up = readme_commands()[:2]
    assert set_up == ["uv run fwstart new ../my-project --yes", "uv run pytest"]
    ci_script = (ROOT / ".ci" / "run").read_text().splitlines()
    assert set_up[1] in ci_script, ".ci/run must call README's test command exactly"
    pip = [line for line in readme_commands() if line.startswith("python3 -m pip install")]
    assert pip[0].startswith("python3 -m pip install . && fwstart new"), "pip's way comes after"
    assert pip[1].endswith("--group test && python3 -m pytest")


def test_no_module_names_a_framework():
    """Frameworks are data: a new one is a template folder plus a data entry.

    cli.py's help strings list the choices for people; test_cli keeps them in step
    with the data.
    """
    offenders = [
        path.name
        for path in (ROOT / "src" / "fwstart").glob("*.py")
        if path.name != "cli.py" and re.search(r"pytorch|tensorflow", path.read_text().lower())
    ]
    assert offenders == []


def test_no_shared_template_file_asks_which_framework_it_is_for():
    """Frameworks are data in the templates too: a file in templates/_shared may print the
    framework's name, but what differs between frameworks comes from each template's own
    templates/framework.j2 (or cookiecutter.json), never from a test of cookiecutter._framework.
    """
    mention = re.compile(r"cookiecutter(?:\.|\[[\"'])_framework")
    printed = re.compile(r"\{\{-?\s*cookiecutter\._framework\s*-?\}\}")
    offenders = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for path in sorted((ROOT / "templates" / "_shared").rglob("*"))
        if path.is_file()
        for line in path.read_bytes().decode(errors="replace").splitlines()
        if len(mention.findall(line)) > len(printed.findall(line))
    ]
    assert offenders == [], "move the difference into each template's templates/framework.j2"


@pytest.mark.slow
def test_readme_first_command_works_in_a_fresh_environment(tmp_path):
    """README's set-up, from a wheel, in a new venv, run in a folder standing for the clone."""
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True)
    pip = [str(tmp_path / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", str(ROOT)]
    subprocess.run(pip, check=True, capture_output=True)
    pip_line = next(c for c in readme_commands() if c.startswith("python3 -m pip install ."))
    fwstart_new = pip_line.split(" && ")[1].split()
    assert fwstart_new[0] == "fwstart"
    (tmp_path / "clone").mkdir()
    result = subprocess.run(
        [tmp_path / "venv" / "bin" / "fwstart", *fwstart_new[1:]],
        cwd=tmp_path / "clone",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "clone").iterdir()) == [], "the project must land outside the clone"
    project = tmp_path / "my-project"
    assert (project / "src" / "my_project" / "config.py").is_file()
    assert not list(project.rglob("__pycache__")), "bytecode copied from the installed templates"
    assert not any(path.is_symlink() for path in project.rglob("*"))
    assert (project / "data" / "digits.npz").stat().st_size > 40_000


@pytest.mark.slow
def test_readme_set_up_works_with_uv_in_a_fresh_clone(tmp_path):
    """README's two set-up commands, run with uv in a copy of the clone (its tracked files):
    `uv run` makes the clone's .venv with fwstart and its test group, and the project lands
    beside the clone. The whole suite is not run from inside itself: its test tools are
    there, and pytest collects one test file."""
    clone = tmp_path / "clone"
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name, follow_symlinks=False)
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")},
        **uv_variables(clone),
        "PATH": f"{uv_folder()}{os.pathsep}{os.environ['PATH']}",
    }
    new, test = readme_commands()[:2]
    made = subprocess.run(
        shlex.split(new), cwd=clone, env=env, capture_output=True, text=True, check=False
    )
    assert made.returncode == 0, made.stderr[-4000:]
    assert (tmp_path / "my-project" / "pyproject.toml").is_file()
    collect = [*shlex.split(test), "--collect-only", "-q", "tests/test_rules.py"]
    collected = subprocess.run(collect, cwd=clone, env=env, capture_output=True, text=True)
    assert collected.returncode == 0 and " collected" in collected.stdout, collected.stderr
