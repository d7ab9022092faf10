"""Installing each framework's default starter from nothing: uv's route against pip's.

python -m bench.install [--frameworks pytorch tensorflow] [--out bench/RESULTS.md]

For each framework, `fwstart new` makes the default project, then each route of its README's
"Start" is run as written (with only what this machine needs: bench/uv_here.py), side by side
in one run: the install lines with an empty package cache (cold), then again into a fresh
environment with that cache filled (warm); and new → install (warm) → trained model with the
default config, as the README's commands do it. One repetition each (the cold run is the
first install a person makes), on whatever the machine is doing: the ratios, measured in the
same run, are the figures to read. Puts its section in place in RESULTS.md.
"""

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.starter_env import ROOT, runnable_here, start_blocks
from bench.uv_here import find_links, narrow_lock_to_this_machine, uv_folder, uv_variables

BIN = Path(sys.executable).parent
TITLE = "## Installing the default starter: uv against pip (bench/install.py)"


def shell(script: str, project: Path, extra: dict[str, str]) -> float:
    """Run a script in the project as a person's terminal does; return its seconds."""
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != str(BIN))
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env |= {**extra, "PATH": f"{path}{os.pathsep}{uv_folder()}"}
    start = time.perf_counter()
    done = subprocess.run(["bash", "-ec", script], cwd=project, env=env, capture_output=True)
    if done.returncode:
        raise RuntimeError(f"{script}\n{done.stderr.decode()[-3000:]}")
    return time.perf_counter() - start


def route_lines(project: Path, route: int, installs: bool) -> str:
    """The Start block's install lines (``installs``) or the rest, as a script."""
    lines = []
    for line in start_blocks(project)[route].splitlines():
        words = shlex.split(line, comments=True)
        is_install = words[:2] in (["uv", "sync"], ["pip", "install"]) or "venv" in words
        if is_install == installs and words[:2] != ["npm", "ci"]:
            lines.append(shlex.join(runnable_here(words)) if words[:1] == ["pip"] else line)
    return "\n".join(lines)


def pip_stand_in(scratch: Path) -> dict[str, str]:
    """pip's stand-in for the extra index this machine cannot reach (PyTorch's CPU index):
    the wheels of pip's find-links, pinned, so that pip takes the CPU build as the README
    means it to, not a newer CUDA build from another index."""
    pins = scratch / "find-links-pins.txt"
    wheels = [w.name.split("-")[:2] for f in find_links() for w in Path(f).glob("*.whl")]
    pins.write_text("".join(f"{name}=={version}\n" for name, version in wheels))
    return {"PIP_CONSTRAINT": str(pins)}


def new_project(where: Path, framework: str) -> Path:
    where.mkdir(parents=True)
    subprocess.run(
        [str(BIN / "fwstart"), "new", "starter", "--yes", "--framework", framework],
        cwd=where, check=True, capture_output=True,
    )  # fmt: skip
    return where / "starter"


def measure(framework: str, scratch: Path) -> dict[str, float]:
    """Seconds for each route: cold install, warm install, new → trained (warm)."""
    figures: dict[str, float] = {}
    for name, route in (("uv", 0), ("pip", 1)):
        cache = scratch / f"{name}-cache"
        settings = {"UV_CACHE_DIR": str(cache), "PIP_CACHE_DIR": str(cache)}
        if name == "pip":
            settings |= pip_stand_in(scratch)
        for temperature in ("cold", "warm"):
            project = new_project(scratch / f"{name}-{temperature}-{framework}", framework)
            narrow_lock_to_this_machine(project)
            extra = {**uv_variables(project), **settings}
            install = route_lines(project, route, installs=True)
            figures[f"{name} {temperature}"] = shell(install, project, extra)
        start = time.perf_counter()
        project = new_project(scratch / f"{name}-trained-{framework}", framework)
        narrow_lock_to_this_machine(project)
        extra = {**uv_variables(project), **settings}
        shell(route_lines(project, route, installs=True), project, extra)
        train = next(
            line for line in route_lines(project, route, False).splitlines() if ".train" in line
        )
        activate = ". .venv/bin/activate\n" if name == "pip" else ""
        shell(activate + train, project, extra)
        figures[f"{name} new → trained"] = time.perf_counter() - start
    return figures


def section(results: dict[str, dict[str, float]]) -> str:
    rows = ["| Starter | Step | uv | pip | uv ÷ pip |", "| --- | --- | --- | --- | --- |"]
    for framework, figures in results.items():
        for step in ("cold", "warm", "new → trained"):
            uv, pip = figures[f"uv {step}"], figures[f"pip {step}"]
            rows.append(f"| {framework} | {step} | {uv:.1f} s | {pip:.1f} s | {uv / pip:.2f}× |")
    return "\n".join(
        [TITLE, "", "Goal: uv ≤ 0.2× pip; PyTorch new → trained ≤ 30 s (warm).", "", *rows, ""]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frameworks", nargs="+", default=["pytorch", "tensorflow"])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        results = {}
        for framework in args.frameworks:
            (Path(scratch) / framework).mkdir()
            results[framework] = measure(framework, Path(scratch) / framework)
            print(framework, results[framework], flush=True)
    text = section(results)
    print(text)
    old = args.out.read_text() if args.out.is_file() else ""
    if TITLE in old:
        before, after = old.split(TITLE, 1)
        rest = after.split("\n## ", 1)
        old = before + text + ("\n## " + rest[1] if len(rest) > 1 else "")
    else:
        old = old.rstrip("\n") + "\n\n" + text
    args.out.write_text(old)


if __name__ == "__main__":
    main()
