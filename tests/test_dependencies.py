"""Every generated project declares what its code imports, and its CI installs it.

For each framework × set of targets (all 16) × CI choice, and for each set of `--with`
options on the smallest and largest project, the project is rendered and every
.py file in it (package, tests, scripts, deploy/) is parsed with `ast`, imports inside functions
included. Each third-party name it imports, or reaches through an imported module (such as
`keras.callbacks.TensorBoard`), must map through NEEDS to distributions that the generated
pyproject.toml declares for the README's install (`uv sync --extra cpu`: the project's
dependencies, its `cpu` extra and its `dev` dependency group). No install: this is the cheap
check that catches a smaller project's missing dependency. (The goal, experience and stack
answers change only the README's text, so the goal here follows the targets.)
"""

import ast
import re
import sys
import tomllib
from itertools import combinations
from pathlib import Path

import pytest
import yaml

from fwstart.api import load_catalog, new_project
from fwstart.questions import Answers

EVERY_TARGET = ("mobile", "web", "edge", "server")
TARGET_SETS = [c for size in range(len(EVERY_TARGET) + 1) for c in combinations(EVERY_TARGET, size)]

# Dotted name → the distributions it needs; the longest matching prefix decides. A name
# that needs more than its own package at run time says so: "a|b" means either one.
NEEDS: dict[str, set[str]] = {
    "PIL": {"pillow"},
    "alembic": {"alembic"},
    "ai_edge_litert": {"ai-edge-litert"},
    "executorch": {"executorch"},
    "fastapi": {"fastapi"},
    "filelock": {"filelock"},
    "fastapi.testclient": {"fastapi", "httpx2"},  # Starlette's TestClient (httpx is deprecated)
    "google.protobuf": {"protobuf"},
    "hypothesis": {"hypothesis"},
    "jsonschema": {"jsonschema"},
    "keras": {"keras"},
    "kornia": {"kornia"},
    "keras.callbacks.TensorBoard": {"keras", "tensorboard"},
    "kubernetes_validate": {"kubernetes-validate"},
    # tracking.py's default store is SQLite, which MLflow's client reaches through these two.
    "mlflow": {"mlflow-skinny|mlflow", "sqlalchemy", "alembic"},
    "numpy": {"numpy"},
    "onnxruntime": {"onnxruntime"},
    "optuna": {"optuna"},
    "prometheus_client": {"prometheus-client"},
    "pytest": {"pytest"},
    "safetensors": {"safetensors"},
    "schemathesis": {"schemathesis"},
    "scipy": {"scipy"},
    "sqlalchemy": {"sqlalchemy"},
    "starlette": {"starlette"},
    "starlette.testclient": {"starlette", "httpx2"},
    "tensorflow": {"tensorflow-cpu|tensorflow"},
    "torch": {"torch"},
    "torch.onnx": {"torch", "onnx", "onnxscript"},  # the dynamo exporter
    "torch.utils.tensorboard": {"torch", "tensorboard"},
    "tqdm": {"tqdm"},
    "transformers": {"transformers"},
    "tritonclient": {"tritonclient"},
    "uvicorn": {"uvicorn"},
    # header_deadline.py extends uvicorn's httptools protocol, which imports httptools.
    "uvicorn.protocols.http.httptools_impl": {"uvicorn", "httptools"},
    "yaml": {"pyyaml"},
}
# Commands a CI file runs that come from the project's own dependencies.
TOOLS = {"pytest": "pytest", "ruff": "ruff"}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirement(text: str) -> tuple[str, list[str]]:
    """A requirement's distribution name and extras (markers ignored: any platform counts)."""
    found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?", text)
    assert found, f"cannot read requirement {text!r}"
    extras = [normalize(e) for e in (found.group(2) or "").split(",") if e.strip()]
    return normalize(found.group(1)), extras


def declared(pyproject: dict, extras: list[str], groups: tuple[str, ...] = ()) -> set[str]:
    """Distributions that `pip install -e .[extras] --group G` (for each of ``groups``) asks
    for, following self-references."""
    project = pyproject["project"]
    optional = {normalize(k): v for k, v in project.get("optional-dependencies", {}).items()}
    names: set[str] = set()
    pending, seen = [*project["dependencies"]], set()
    pending += [req for extra in extras for req in optional[normalize(extra)]]
    pending += [req for group in groups for req in pyproject["dependency-groups"][group]]
    while pending:
        name, wanted = parse_requirement(pending.pop())
        if name != normalize(project["name"]):
            names.add(name)
            continue
        for extra in set(wanted) - seen:
            assert extra in optional, f"extra [{extra}] is used but not defined"
            seen.add(extra)
            pending += optional[extra]
    return names


class Imports(ast.NodeVisitor):
    """Dotted names a module imports or reaches through an imported name."""

    def __init__(self) -> None:
        self.bound: dict[str, str] = {}
        self.names: set[str] = set()
        self.relative: set[tuple[int, str]] = set()

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.names.add(alias.name)
            local = alias.asname or alias.name.split(".")[0]
            self.bound[local] = alias.name if alias.asname else local

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            for alias in node.names:
                self.relative.add((node.level, f"{node.module or ''}.{alias.name}".strip(".")))
            return
        for alias in node.names:
            self.names.add(f"{node.module}.{alias.name}")
            self.bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def visit_Attribute(self, node: ast.Attribute) -> None:
        parts, inner = [node.attr], node.value
        while isinstance(inner, ast.Attribute):
            parts.append(inner.attr)
            inner = inner.value
        if isinstance(inner, ast.Name) and inner.id in self.bound:
            self.names.add(".".join([self.bound[inner.id], *reversed(parts)]))
        self.generic_visit(node)


def needs_of(name: str) -> set[str]:
    """The distributions a dotted third-party name needs (longest prefix in NEEDS)."""
    parts = name.split(".")
    for size in range(len(parts), 0, -1):
        if ".".join(parts[:size]) in NEEDS:
            return NEEDS[".".join(parts[:size])]
    pytest.fail(
        f"No entry for {parts[0]!r} in NEEDS (tests/test_dependencies.py): add which "
        "distribution provides it."
    )


def own_module_exists(project: Path, source: Path, level: int, name: str) -> bool:
    """Whether an import of the project's own code names a module that was rendered."""
    base = source.parent
    for _ in range(level - 1):
        base = base.parent
    if not level:
        base = project / "src"
    path = base.joinpath(*name.split("."))
    return any(
        p.exists()
        for p in (
            path.with_suffix(".py"),
            path / "__init__.py",
            path.parent.with_suffix(".py"),
            path.parent / "__init__.py",
        )
    )


def imported_needs(project: Path, package: str) -> dict[str, set[str]]:
    """For each third-party name used in the project's .py files, what it needs; own imports
    must name rendered modules."""
    found: dict[str, set[str]] = {}
    for source in sorted(project.rglob("*.py")):
        visitor = Imports()
        visitor.visit(ast.parse(source.read_text(), str(source)))
        own = {(0, n) for n in visitor.names if n.split(".")[0] == package}
        for level, name in visitor.relative | own:
            assert own_module_exists(project, source, level, name), (
                f"{source.relative_to(project)} imports {'.' * level}{name}, which was not rendered"
            )
        for name in visitor.names:
            top = name.split(".")[0]
            beside = (source.parent / f"{top}.py").is_file()  # a script's own sibling module
            if top != package and top not in sys.stdlib_module_names and not beside:
                found[f"{name} ({source.relative_to(project)})"] = needs_of(name)
    return found


def missing(needs: dict[str, set[str]], names: set[str]) -> list[str]:
    return sorted(
        f"{where} needs {need}"
        for where, wanted in needs.items()
        for need in wanted
        if not set(need.split("|")) & names
    )


def ci_commands(project: Path, ci: str) -> list[str]:
    """Every shell line the generated CI runs."""
    if ci == "github":
        workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
        steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
        return [line for step in steps for line in step.get("run", "").splitlines()]
    pipeline = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    jobs = [job for job in pipeline.values() if isinstance(job, dict)]
    return [
        line for job in jobs for key in ("before_script", "script") for line in job.get(key, [])
    ]


def ci_installs(pyproject: dict, commands: list[str]) -> set[str]:
    """What the CI's `uv sync` commands ask for: the project's dependencies, each `--extra`
    and the `dev` group (which uv installs unless told `--no-dev`)."""
    names: set[str] = set()
    installs = [found for c in commands for found in re.findall(r"uv sync([^;&|]*)", c)]
    assert installs, "the CI installs nothing"
    defined = {normalize(k) for k in pyproject["project"].get("optional-dependencies", {})}
    for options in installs:
        extras = [normalize(e) for e in re.findall(r"--extra[ =](\S+)", options)]
        assert set(extras) <= defined, f"CI installs extras {extras}; defined: {sorted(defined)}"
        groups = () if "--no-dev" in options else ("dev",)
        names |= declared(pyproject, extras, groups)
    return names


@pytest.mark.parametrize("ci", ["github", "gitlab", "none"])
@pytest.mark.parametrize("targets", TARGET_SETS, ids=lambda t: "-".join(t) or "research")
@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_every_import_is_declared_and_installed_by_ci(catalog, tmp_path, framework, targets, ci):
    check_declared(catalog, tmp_path, framework, targets, ci, ())


def option_cases() -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Each set of --with options on the smallest and the largest project that can have it
    (monitoring needs the server target, so the smallest with it is the server alone)."""
    options = tuple(load_catalog().by_key["with"].choices)
    sets = [c for size in range(1, len(options) + 1) for c in combinations(options, size)]
    return [
        (targets, chosen)
        for chosen in sets
        for targets in ((("server",) if "monitoring" in chosen else ()), EVERY_TARGET)
    ]


@pytest.mark.parametrize(
    ("targets", "options"),
    option_cases(),
    ids=lambda value: "-".join(value) or "research",
)
@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_every_option_declares_what_it_imports(catalog, tmp_path, framework, targets, options):
    """Each set of --with options, on the smallest and the largest project."""
    check_declared(catalog, tmp_path, framework, targets, "github", options)


def check_declared(
    catalog, tmp_path: Path, framework: str, targets: tuple[str, ...], ci: str, options: tuple
) -> None:
    goal = "deployment" if targets else "research"
    answers = Answers(goal, targets, "neither", "none", ci, options)
    project = new_project(catalog, tmp_path / "demo-app", answers, framework).path
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    needs = imported_needs(project, "demo_app")
    undeclared = missing(needs, declared(pyproject, ["cpu"], ("dev",)))
    assert not undeclared, "pyproject.toml does not declare:\n" + "\n".join(undeclared)
    if ci == "none":
        return
    commands = ci_commands(project, ci)
    installed = ci_installs(pyproject, commands)
    run = [c.removeprefix("uv run ").split() or [""] for c in commands]
    tools = {f"{w} (CI)": {TOOLS[w]} for c in run if (w := c[0]) in TOOLS}
    uninstalled = missing({**needs, **tools}, installed)
    assert not uninstalled, "the CI does not install:\n" + "\n".join(uninstalled)


FRAMEWORK_DISTRIBUTIONS = {"pytorch": {"torch"}, "tensorflow": {"tensorflow", "tensorflow-cpu"}}


@pytest.mark.parametrize("targets", [(), ("server",), EVERY_TARGET], ids=["none", "server", "all"])
@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_the_framework_comes_from_one_of_two_conflicting_extras(
    catalog, tmp_path, framework, targets
):
    """`uv sync` always installs [project.dependencies], so the framework is not there: the
    `cpu` and `cuda` extras each bring a build, uv may install only one of them, and the dev
    group leaves the choice to the person. PyTorch's builds come from PyTorch's own indexes
    (explicit, so nothing else is looked up there); its service needs no torch."""
    goal = "deployment" if targets else "research"
    answers = Answers(goal, targets, "neither", "none", "github", ())
    project = new_project(catalog, tmp_path / "demo-app", answers, framework).path
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    framework_names = FRAMEWORK_DISTRIBUTIONS[framework]
    assert not declared(pyproject, []) & framework_names
    assert declared(pyproject, ["cpu"]) & framework_names
    assert declared(pyproject, ["cuda"]) & framework_names
    assert [{"extra": "cpu"}, {"extra": "cuda"}] in pyproject["tool"]["uv"]["conflicts"]
    own = [parse_requirement(r) for r in pyproject["dependency-groups"]["dev"]]
    chosen = {e for name, extras in own if name == "demo-app" for e in extras}
    assert not chosen & {"cpu", "cuda"}, "the dev group must not choose the build"
    if framework == "pytorch":
        indexes = {i["name"]: i for i in pyproject["tool"]["uv"]["index"]}
        sources = pyproject["tool"]["uv"]["sources"]["torch"]
        assert {s["extra"] for s in sources} == {"cpu", "cuda"}
        assert all(indexes[s["index"]]["explicit"] for s in sources)
        assert indexes["pytorch-cpu"]["url"] == "https://download.pytorch.org/whl/cpu"
        if "server" in targets:
            assert not declared(pyproject, ["serve"]) & framework_names
