"""Measure fwstart and its starters against what people would use instead.

python -m bench            full runs (5 repetitions; about 8 minutes on 2 cores)
python -m bench --quick    one repetition of everything, tiny sizes (CI's smoke test)
python -m bench --only generation [--repeats N]
                           that section alone, put in place in RESULTS.md (no starter env)
python -m bench --only training [--repeats N]
                           training throughput alone (two fresh projects, the starter envs)

Writes bench/RESULTS.md (or --out FILE). Every comparison is a ratio of medians
measured in the same run, with the alternatives interleaved, because absolute times
on a shared machine are noise.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from bench.starter_env import (
    StarterEnv,
    install_project,
    lightning_overlay,
    run,
    starter_environment,
)
from bench.timing import Stats, command, interleaved, interleaved_with_cpu, ratio, repeat

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EVERY_TARGET = ["--target", "mobile", "--target", "web", "--target", "edge", "--target", "server"]
FRAMEWORKS = {"pytorch": ".ckpt", "tensorflow": ".keras"}


@dataclass
class Section:
    """One comparison: a table, and whether its goal was met."""

    title: str
    goal: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"## {self.title}", "", f"Goal: {self.goal}", ""]
        lines += ["| " + " | ".join(self.header) + " |", "|" + " --- |" * len(self.header)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join([*lines, "", *[f"- {finding}" for finding in self.findings], ""])


def verdict(value: float, goal: float, higher_is_better: bool = False) -> str:
    met = value >= goal if higher_is_better else value <= goal
    return f"**{value:.2f}×**, goal {'≥' if higher_is_better else '≤'} {goal}×: " + (
        "met" if met else "**missed**"
    )


def slowest_imports(*args: str, top: int = 4) -> str:
    """The imports that cost most when running ``args`` (python -X importtime)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)", line)
        if match and len(match.group(2)) <= 2:  # top-level imports only
            rows.append((int(match.group(1)), match.group(3)))
    rows.sort(reverse=True)
    return ", ".join(f"{name} {micro / 1000:.0f} ms" for micro, name in rows[:top])


def generation(scratch: Path, repeats: int) -> Section:
    template = ROOT / "templates" / "pytorch"
    cache = scratch / "user-cache"  # fwstart's compiled templates: warm after the first run
    fwstart_env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    times, cpu = interleaved_with_cpu(
        {
            # Like for like: cookiecutter starts no git repository; the next row shows what
            # fwstart's default (a repository holding the render for `fwstart update`) adds.
            "fwstart new --yes --no-git": lambda i: command(
                BIN / "fwstart", "new", scratch / f"fw-{i}", "--yes", "--no-git", env=fwstart_env
            )(i),
            "fwstart new --yes": lambda i: command(
                BIN / "fwstart", "new", scratch / f"fg-{i}", "--yes", env=fwstart_env
            )(i),
            "cookiecutter --no-input": lambda i: command(
                BIN / "cookiecutter", template, "--no-input", "-o", scratch / f"cc-{i}"
            )(i),
            "plain jinja2 render": lambda i: command(
                sys.executable, ROOT / "bench" / "plain_render.py", template, scratch / f"pj-{i}"
            )(i),
        },
        repeats,
    )
    section = Section(
        "1. Generation: the PyTorch starter",
        "fwstart ≤ 1.0× the cookiecutter CLI",
        [
            "Command",
            "Wall time, median (min–max)",
            "fwstart ÷ this",
            "CPU time, median (min–max)",
            "fwstart ÷ this",
        ],
    )
    fwstart, fwstart_cpu = times["fwstart new --yes --no-git"], cpu["fwstart new --yes --no-git"]
    for name, stats in times.items():
        section.rows.append(
            [
                f"`{name}`",
                stats.cell(),
                f"{ratio(fwstart, stats):.2f}×",
                cpu[name].cell(),
                f"{ratio(fwstart_cpu, cpu[name]):.2f}×",
            ]
        )
    baseline = "cookiecutter --no-input"
    section.findings.append(
        f"fwstart ÷ cookiecutter CLI, wall time: {verdict(ratio(fwstart, times[baseline]), 1.0)}"
    )
    section.findings.append(
        f"fwstart ÷ cookiecutter CLI, CPU time: {verdict(ratio(fwstart_cpu, cpu[baseline]), 1.0)}"
    )
    section.findings.append(
        f"fwstart ÷ plain jinja2 (the floor): {ratio(fwstart, times['plain jinja2 render']):.2f}×"
    )
    section.findings.append(
        "Slowest imports of `fwstart new`: "
        + slowest_imports("-m", "fwstart", "new", str(scratch / "imports"), "--yes", "--no-git")
    )
    return section


def startup(repeats: int) -> Section:
    times = interleaved(
        {
            "fwstart --help": command(BIN / "fwstart", "--help"),
            "fwstart --version": command(BIN / "fwstart", "--version"),
            "typer hello-world --help": command(
                sys.executable, ROOT / "bench" / "hello_typer.py", "--help"
            ),
        },
        repeats,
    )
    section = Section(
        "2. Start-up",
        "≤ 1.5× a bare typer hello-world",
        ["Command", "Wall time, median (min–max)", "÷ typer hello-world"],
    )
    base = times["typer hello-world --help"]
    for name, stats in times.items():
        section.rows.append([f"`{name}`", stats.cell(), f"{ratio(stats, base):.2f}×"])
    for name in ("fwstart --help", "fwstart --version"):
        section.findings.append(f"{name}: {verdict(ratio(times[name], base), 1.5)}")
    section.findings.append(
        "Slowest imports of `fwstart --help`: " + slowest_imports("-m", "fwstart", "--help")
    )
    return section


def first_model(
    scratch: Path,
    starters: dict[str, StarterEnv],
    envs: dict[str, dict[str, str]],
    repeats: int,
    quick: bool,
) -> tuple[Section, dict[str, Path]]:
    """fwstart new → train → export (verified), dependencies already installed."""
    section = Section(
        "3. Time to a first deployable model",
        "≤ 60 s from `fwstart new --yes` to trained, exported and verified artifacts "
        "for all four targets (installs excluded)",
        ["Framework", "new", "train", "export + verify", "Total", "Goal"],
    )
    projects = {}
    for framework in FRAMEWORKS:
        steps: dict[str, list[float]] = {"new": [], "train": [], "export": []}
        for index in range(repeats):
            project = scratch / f"first-{framework}-{index}"
            timed = {
                "new": [
                    BIN / "fwstart",
                    "new",
                    project,
                    "--goal",
                    "deployment",
                    *EVERY_TARGET,
                    "--framework",
                    framework,
                    "--yes",
                ]
            }
            package = project.name.replace("-", "_")
            config = ["--config", f"configs/{'smoke' if quick else 'default'}.yaml"]
            timed["train"] = ["python", "-m", f"{package}.train", *config]
            timed["export"] = ["python", "-m", f"{package}.export", *config]
            for step, args in timed.items():
                where = project if step != "new" else None
                env = envs[framework]
                steps[step].append(repeat(command(*args, cwd=where, env=env), 1).values[0])
                if step == "new":
                    install_project(project, starters[framework])  # not part of the clock
            projects[framework] = project
        totals = Stats(tuple(map(sum, zip(*steps.values(), strict=True))))
        met = "met" if totals.median <= 60 else "**missed**"
        section.rows.append(
            [
                framework,
                *(Stats(tuple(v)).cell() for v in steps.values()),
                totals.cell(),
                f"{totals.median:.0f} s ≤ 60 s: {met}",
            ]
        )
    return section, projects


def training(
    projects: dict[str, Path],
    envs: dict[str, dict[str, str]],
    repeats: int,
    quick: bool,
    threads: int = 0,
) -> Section:
    epochs = "1" if quick else "5"
    script = ROOT / "bench" / "training.py"
    section = Section(
        "4. Training throughput (same model, data, batch 64)",
        "the generated loops ≥ 1.0× the best of the others",
        ["Variant", "Samples/s, median (min–max)", "÷ generated"],
    )
    groups = {  # the starter's loop first, then the same loop reading the split per batch
        "pytorch": [
            "pytorch-generated",
            "pytorch-generated-disk",
            "pytorch-minimal",
            "pytorch-lightning",
        ],
        "tensorflow": ["keras-generated", "keras-generated-disk", "keras-plain"],
    }
    generated: dict[str, Stats] = {}
    for framework, variants in groups.items():
        speeds: dict[str, list[float]] = {variant: [] for variant in variants}
        for _ in range(repeats):
            for variant in variants:
                out = run(
                    "python",
                    str(script),
                    variant,
                    str(projects[framework]),
                    epochs,
                    str(threads),
                    cwd=ROOT,
                    env=envs[framework],
                )
                speeds[variant].append(json.loads(out.splitlines()[-1])["samples_per_second"])
        stats = {variant: Stats(tuple(values)) for variant, values in speeds.items()}
        ours = generated[framework] = stats[variants[0]]
        for variant, found in stats.items():
            section.rows.append([variant, found.cell("", digits=4), f"{ratio(found, ours):.2f}×"])
        best_other = max((stats[v] for v in variants[2:]), key=lambda s: s.median)
        section.findings += [
            f"{variants[0]} ÷ best other: {verdict(ratio(ours, best_other), 1.0, True)}",
            f"{variants[0]} ÷ {variants[1]} (in memory ÷ read per batch): "
            f"{ratio(ours, stats[variants[1]]):.2f}×",
        ]
    section.findings.append(
        "keras-generated ÷ pytorch-generated (same data, batch and model): "
        f"{ratio(generated['tensorflow'], generated['pytorch']):.2f}×"
    )
    return section


def training_alone(scratch: Path, repeats: int, threads: int = 0) -> Section:
    """Section 4 on its own: a fresh project per framework, installed as its README says."""
    starters = {framework: starter_environment(framework) for framework in FRAMEWORKS}
    envs = {
        "pytorch": lightning_overlay(starters["pytorch"]),
        "tensorflow": starters["tensorflow"].variables,
    }
    projects = {}
    for framework, starter in starters.items():
        project = projects[framework] = scratch / f"training-{framework}"
        new = ["new", str(project), "--framework", framework, "--yes", "--no-git"]
        run(str(BIN / "fwstart"), *new, cwd=scratch, env=dict(os.environ))
        install_project(project, starter, python_only=True)
    return training(projects, envs, repeats, quick=False, threads=threads)


def inference(
    projects: dict[str, Path],
    envs: dict[str, dict[str, str]],
    repeats: int,
    quick: bool,
) -> Section:
    section = Section(
        "5. Inference of the exported artifacts (CPU, per call)",
        "exported ≤ 0.5× the eager model's latency at batch 1",
        [
            "Framework",
            "Model",
            "Runtime",
            "Size",
            "Batch 1",
            "÷ eager",
            "Batch 32",
            "÷ eager",
            "Test accuracy",
        ],
    )
    calls = "20" if quick else "200"
    outputs = "smoke" if quick else ""  # where configs/smoke.yaml or default.yaml wrote them
    for framework, suffix in FRAMEWORKS.items():
        project = projects[framework]
        out = run(
            "python",
            str(ROOT / "bench" / "inference.py"),
            str(project),
            str(project / "artifacts" / outputs),
            str(project / "runs" / outputs / f"best{suffix}"),
            calls,
            str(repeats),
            cwd=ROOT,
            env=envs[framework],
        )
        results = json.loads(out.splitlines()[-1])
        eager = {batch: Stats(tuple(results["eager"][batch])) for batch in ("batch1", "batch32")}
        for model, found in results.items():
            b1, b32 = Stats(tuple(found["batch1"])), Stats(tuple(found["batch32"]))
            section.rows.append(
                [
                    framework,
                    f"`{model}`",
                    found["runtime"],
                    f"{found['size_bytes'] / 1024:.0f} KiB",
                    b1.cell("ms", 1000),
                    f"{ratio(b1, eager['batch1']):.2f}×",
                    b32.cell("ms", 1000),
                    f"{ratio(b32, eager['batch32']):.2f}×",
                    f"{found['test_accuracy']:.4f}",
                ]
            )
            if model != "eager":
                section.findings.append(
                    f"{framework} `{model}` at batch 1: {verdict(ratio(b1, eager['batch1']), 0.5)}"
                )
        if "model_int8.tflite" in results:
            drop = (
                results["model.tflite"]["test_accuracy"]
                - results["model_int8.tflite"]["test_accuracy"]
            )
            section.findings.append(
                f"int8 accuracy drop (float32 LiteRT − int8 LiteRT): {drop * 100:.2f} points"
            )
    return section


def machine(envs: dict[str, dict[str, str]]) -> list[str]:
    versions = {
        package["name"].lower(): package
        for env in envs.values()
        for package in json.loads(
            run("python", "-m", "pip", "list", "--format", "json", cwd=ROOT, env=env)
        )
    }.values()
    wanted = {
        "torch",
        "tensorflow-cpu",
        "keras",
        "onnxruntime",
        "executorch",
        "ai-edge-litert",
        "pytorch-lightning",
        "numpy",
    }
    listed = ", ".join(
        f"{p['name']} {p['version']}" for p in versions if p["name"].lower() in wanted
    )
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False)
    return [
        f"- Machine: {platform.platform()}, {os.cpu_count()} CPU cores, no GPU",
        f"- Python {platform.python_version()}; {listed}; Node.js {node.stdout.strip()}",
    ]


QUICK_SECTIONS: dict[str, Callable[..., Section]] = {"generation": generation, "startup": startup}
ALONE = {**QUICK_SECTIONS, "training": training_alone}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repetition, tiny sizes")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument(
        "--only",
        choices=sorted(ALONE),
        action="append",
        help="measure only this section (repeatable; training needs the starter environments) "
        "and replace it in --out, keeping the other sections",
    )
    parser.add_argument("--repeats", type=int, help="repetitions (default 5, or 1 with --quick)")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads of each training variant with --only training (default 0: every core)",
    )
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 5)
    if args.only:
        return only(args.only, repeats, args.out, args.threads)
    starters = {framework: starter_environment(framework) for framework in FRAMEWORKS}
    envs = {
        "pytorch": lightning_overlay(starters["pytorch"]),
        "tensorflow": starters["tensorflow"].variables,
    }
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        sections = [generation(scratch, repeats), startup(repeats)]
        first, projects = first_model(scratch, starters, envs, repeats, args.quick)
        sections += [
            first,
            training(projects, envs, repeats, args.quick),
            inference(projects, envs, repeats, args.quick),
        ]
    mode = (
        "quick mode: one repetition, tiny sizes — not figures to quote"
        if args.quick
        else (f"{repeats} repetitions of each measurement")
    )
    text = "\n".join(
        [
            "# Benchmarks",
            "",
            "Written by `python -m bench` (after README's set-up). Ratios are medians over medians "
            "measured in the same run, alternatives interleaved; absolute times on this shared "
            "machine are noise.",
            "",
            f"- Run: {mode}",
            *machine(envs),
            "",
            *(section.markdown() for section in sections),
        ]
    )
    analysis = ROOT / "bench" / "ANALYSIS.md"  # written by hand after a full run
    if analysis.is_file() and not args.quick:
        text += "\n" + analysis.read_text()
    args.out.write_text(text)
    print(text)
    return 0


def only(names: list[str], repeats: int, out: Path, threads: int = 0) -> int:
    """Measure some sections again and put them in place of their old text in ``out``."""
    before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        sections = [ALONE[name](*_arguments(name, scratch, repeats, threads)) for name in names]
    text = out.read_text() if out.is_file() else "# Benchmarks\n\n"
    flags = " ".join(f"--only {name}" for name in names) + (f" --threads {threads}" * bool(threads))
    load = " → ".join(f"{minute:.2f}" for minute in (before[0], os.getloadavg()[0]))
    stamp = (
        f"Measured alone on {date.today()}: `python -m bench {flags} --repeats {repeats}` "
        f"({os.cpu_count()} cores; 1-minute load average {load}, start → end)."
    )
    for section in sections:
        block = section.markdown().replace("\n\nGoal:", f"\n\n{stamp}\n\nGoal:", 1)
        pattern = re.compile(rf"^## {re.escape(section.title)}\n.*?(?=^## |\Z)", re.M | re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _, new=block: new + "\n", text)
        else:
            text += block
        print(block)
    out.write_text(text)
    return 0


def _arguments(name: str, scratch: Path, repeats: int, threads: int) -> tuple:
    if name == "training":
        return scratch, repeats, threads
    return (repeats,) if name == "startup" else (scratch, repeats)


if __name__ == "__main__":
    sys.exit(main())
