"""How long a default project's own `pytest` takes (the issue's goal: 60 s on 2 idle cores).

python -m bench.pytest_time

For each framework: the default research project (``fwstart new NAME --yes``), installed into
the shared starter environment as its README installs it (bench/starter_env.py), then its
default ``pytest`` (the slow tests left out, as the project's pyproject.toml says), timed.
Prints Markdown: the wall time, the CPU time of pytest and every process it started (a figure
the machine's other load barely moves), the load average before, and the slowest tests.
Run it on an idle machine: on a shared one the wall time grows with the load.
"""

import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.starter_env import install_project, starter_environment

FRAMEWORKS = ("pytorch", "tensorflow")
SLOWEST = 5


def generate(folder: Path, framework: str) -> Path:
    project = folder / f"pytest-time-{framework}"  # its own name in the shared environment
    command = [sys.executable, "-m", "fwstart", "new", str(project), "--framework", framework]
    subprocess.run([*command, "--yes", "--no-git"], check=True, capture_output=True)
    return project


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_pytest(project: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds and the output of the project's default pytest."""
    command = ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--durations={SLOWEST}"]
    cpu, started = children_cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - started, children_cpu() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"pytest failed in {project}:\n{done.stdout[-4000:]}")
    return wall, cpu, done.stdout


def slowest(output: str) -> str:
    """The slowest tests from pytest's --durations lines, as `1.2 s name`."""
    found = re.findall(r"^([\d.]+)s (call|setup|teardown) +\S+::(\S+)", output, re.MULTILINE)
    return "; ".join(f"{float(seconds):.0f} s {name} ({phase})" for seconds, phase, name in found)


def main() -> None:
    print("| Project | Wall time | CPU time | Load before | Result | Slowest |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
    with tempfile.TemporaryDirectory() as folder:
        for framework in FRAMEWORKS:
            starter = starter_environment(framework)
            project = generate(Path(folder), framework)
            install_project(project, starter, python_only=True)
            load = os.getloadavg()[0]
            wall, cpu, output = timed_pytest(project, starter.variables)
            result = output.strip().splitlines()[-1].split(" in ")[0]
            print(
                f"| {framework}, default research | {wall:.0f} s | {cpu:.0f} s | {load:.1f} "
                f"| {result} | {slowest(output)} |"
            )


if __name__ == "__main__":
    main()
