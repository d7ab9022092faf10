"""Every framework, CI and target set renders into a project that lints and whose CI is valid.

The CI files are checked for shape (SchemaStore's schemas, vendored in check-jsonschema,
offline) and for meaning: actionlint with shellcheck on `run:` steps and zizmor for
GitHub Actions; stages and needs for GitLab CI.
"""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from bench.uv_here import UV_VERSION
from fwstart.api import new_project
from fwstart.questions import Answers

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGET_SETS = [
    (),
    ("mobile",),
    ("web",),
    ("edge",),
    ("server",),
    ("mobile", "web", "edge", "server"),
]


def tool(name: str) -> str:
    """A checker installed with fwstart's test extra (beside this Python, or on PATH)."""
    found = shutil.which(name, path=f"{BIN}:{shutil.os.environ.get('PATH', '')}")
    assert found, f"{name} is missing: pip install -e '.[test]'"
    return found


def run(*command: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**shutil.os.environ, "PATH": f"{BIN}:{shutil.os.environ.get('PATH', '')}"}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, env=env)


def generate(catalog, tmp_path: Path, framework: str, ci: str, targets: tuple[str, ...]) -> Path:
    goal = "deployment" if targets else "research"
    answers = Answers(goal=goal, targets=targets, experience="neither", stack="none", ci=ci)
    return new_project(catalog, tmp_path / "demo-app", answers, framework).path


@pytest.fixture(params=["pytorch", "tensorflow"])
def framework(request):
    return request.param


@pytest.mark.parametrize("targets", TARGET_SETS, ids=lambda t: "-".join(t) or "none")
@pytest.mark.parametrize("ci", ["github", "gitlab", "none"])
def test_generated_project_lints_and_parses(catalog, tmp_path, framework, ci, targets):
    project = generate(catalog, tmp_path, framework, ci, targets)
    lint = run(tool("ruff"), "check", "--no-cache", "--output-format", "concise", str(project))
    assert lint.returncode == 0, lint.stdout
    config = yaml.safe_load((project / "configs" / "default.yaml").read_text())
    assert config.get("targets", []) == list(targets)
    assert ("targets" in config) == bool(targets)  # a research project has no export settings
    assert (project / "web").exists() == ("web" in targets)


@pytest.mark.parametrize("option", ["tracking", "tuning", "registry"])
@pytest.mark.parametrize("targets", [(), ("server",)], ids=["research", "server"])
def test_each_option_lints_on_a_research_and_a_server_project(
    catalog, tmp_path, framework, option, targets
):
    goal = "deployment" if targets else "research"
    answers = Answers(goal, targets, "neither", "none", "github", (option,))
    project = new_project(catalog, tmp_path / "demo-app", answers, framework).path
    lint = run(tool("ruff"), "check", "--no-cache", "--output-format", "concise", str(project))
    assert lint.returncode == 0, lint.stdout


def test_every_target_with_every_option_lints(catalog, tmp_path, framework):
    """The options' template conditionals meet in the same files (registry and monitoring
    both change serve.py): together they still write lint-clean code."""
    every = ("tracking", "tuning", "registry", "monitoring")
    answers = Answers("deployment", TARGET_SETS[-1], "neither", "none", "github", every)
    project = new_project(catalog, tmp_path / "demo-app", answers, framework).path
    lint = run(tool("ruff"), "check", "--no-cache", "--output-format", "concise", str(project))
    assert lint.returncode == 0, lint.stdout


@pytest.mark.parametrize(
    ("targets", "options"),
    [
        ((), ()),
        ((), ("tracking", "tuning", "registry")),
        *[((target,), ()) for target in TARGET_SETS[-1]],
        (TARGET_SETS[-1], ("tracking", "tuning", "registry", "monitoring")),
    ],
    ids=["research", "research-options", *TARGET_SETS[-1], "everything"],
)
def test_generated_code_is_laid_out_as_ruff_format_writes_it(
    catalog, tmp_path, framework, targets, options
):
    """The pre-commit hook ruff-format and `ruff format --check .` (with the project's own
    settings) find nothing to change in a new project, whatever its template conditionals."""
    goal = "deployment" if targets else "research"
    answers = Answers(goal, targets, "neither", "none", "github", options)
    project = new_project(catalog, tmp_path / "demo-app", answers, framework).path
    layout = run(tool("ruff"), "format", "--check", "--no-cache", ".", cwd=project)
    assert layout.returncode == 0, layout.stdout + layout.stderr


# The longest project name the templates are laid out for (40 characters, and a package name
# as long): the name lands in usage lines, imports and help texts, each kept within ruff's
# 100 columns for it. Shorter names fit as well; calls that hold the name end with a trailing
# comma so that ruff format lays them out the same way at any length.
LONGEST_NAME = "digits-classifier-experiments-for-mobile"  # 40 characters


@pytest.mark.parametrize(
    ("targets", "options"),
    [
        ((), ()),
        ((), ("tracking", "tuning", "registry")),
        (TARGET_SETS[-1], ("tracking", "tuning", "registry", "monitoring")),
    ],
    ids=["research", "research-options", "everything"],
)
def test_a_project_with_the_longest_name_is_lint_clean_and_formatted(
    catalog, tmp_path, framework, targets, options
):
    """A long project name (its package name is as long) leaves no line past ruff's length
    and nothing for ruff format to rewrap, so a new project's CI starts green."""
    goal = "deployment" if targets else "research"
    answers = Answers(goal, targets, "neither", "none", "github", options)
    project = new_project(catalog, tmp_path / LONGEST_NAME, answers, framework).path
    lint = run(tool("ruff"), "check", "--no-cache", "--output-format", "concise", ".", cwd=project)
    assert lint.returncode == 0, lint.stdout
    layout = run(tool("ruff"), "format", "--check", "--no-cache", ".", cwd=project)
    assert layout.returncode == 0, layout.stdout + layout.stderr


@pytest.mark.parametrize(
    "targets", [(), ("web",), ("mobile", "web", "edge", "server")], ids=["none", "web", "all"]
)
def test_github_workflow_is_valid_and_safe(catalog, tmp_path, framework, targets):
    project = generate(catalog, tmp_path, framework, "github", targets)
    workflow = project / ".github" / "workflows" / "ci.yml"
    dependabot = project / ".github" / "dependabot.yml"
    for schema, path in [("vendor.github-workflows", workflow), ("vendor.dependabot", dependabot)]:
        checked = run(tool("check-jsonschema"), "--builtin-schema", schema, str(path))
        assert checked.returncode == 0, checked.stdout + checked.stderr
    linted = run(tool("actionlint"), "-shellcheck", tool("shellcheck"), str(workflow))
    assert linted.returncode == 0, linted.stdout + linted.stderr
    audited = run(tool("zizmor"), "--offline", "--no-progress", str(project / ".github"))
    assert audited.returncode == 0, audited.stdout + audited.stderr
    text = workflow.read_text()
    assert "${{ github.ref }}" in text, "GitHub expressions pass through rendering untouched"
    assert ("setup-node" in text) == ("web" in targets)


def test_github_actions_are_pinned_to_node24_majors_by_commit(catalog, tmp_path, framework):
    project = generate(catalog, tmp_path, framework, "github", ("mobile", "web", "edge", "server"))
    steps = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
    uses = [step["uses"] for step in steps["jobs"]["test"]["steps"] if "uses" in step]
    minimum = {
        "actions/checkout": 5,
        "actions/setup-python": 6,
        "astral-sh/setup-uv": 10,
        "actions/setup-node": 5,
        "actions/upload-artifact": 6,
    }
    text = (project / ".github" / "workflows" / "ci.yml").read_text()
    for use in uses:
        action, ref = use.split("@")
        assert len(ref) == 40 and all(c in "0123456789abcdef" for c in ref), use
        major = int(text.split(use)[1].split("# v")[1].split(".")[0])
        assert major >= minimum[action], f"{action} v{major} runs on a retired Node runtime"


def gitlab_problems(pipeline: dict) -> list[str]:
    """Jobs must use declared stages and need only jobs that run no later than they do."""
    stages = pipeline["stages"]
    keywords = {"stages", "default", "variables", "include", "workflow"}
    jobs = {
        name: job
        for name, job in pipeline.items()
        if name not in keywords and not name.startswith(".")
    }
    order = {
        name: stages.index(job.get("stage"))
        for name, job in jobs.items()
        if job.get("stage") in stages
    }
    problems = [
        f"{name}: stage {job.get('stage')!r} is not in {stages}"
        for name, job in jobs.items()
        if name not in order
    ]
    for name, job in jobs.items():
        for need in job.get("needs", []):
            if need not in jobs:
                problems.append(f"{name}: needs unknown job {need!r}")
            elif name in order and need in order and order[need] > order[name]:
                problems.append(f"{name}: needs {need}, which runs in a later stage")
        if "extends" in job and job["extends"] not in pipeline:
            problems.append(f"{name}: extends unknown {job['extends']!r}")
    return problems


@pytest.mark.parametrize(
    "targets", [(), ("web",), ("mobile", "web", "edge", "server")], ids=["none", "web", "all"]
)
def test_gitlab_pipeline_is_valid_and_consistent(catalog, tmp_path, framework, targets):
    project = generate(catalog, tmp_path, framework, "gitlab", targets)
    pipeline_file = project / ".gitlab-ci.yml"
    checked = run(
        tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(pipeline_file)
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    pipeline = yaml.safe_load(pipeline_file.read_text())
    assert gitlab_problems(pipeline) == []
    assert ("artifacts" in pipeline["train"]) == bool(targets)


def test_gitlab_check_catches_broken_pipelines():
    broken = {
        "stages": ["lint", "test"],
        "lint": {"stage": "lint", "script": ["x"], "needs": ["test"]},
        "test": {"stage": "deploy", "script": ["y"], "extends": ".missing"},
    }
    problems = gitlab_problems(broken)
    assert any("stage 'deploy'" in p for p in problems)
    assert any("extends unknown" in p for p in problems)
    assert gitlab_problems(
        {"stages": ["a", "b"], "x": {"stage": "a", "needs": ["y"]}, "y": {"stage": "b"}}
    ) == ["x: needs y, which runs in a later stage"]


def test_templates_are_parallel():
    """Same file names in both templates, so a person can diff them."""

    def names(framework: str) -> set[str]:
        root = ROOT / "templates" / framework
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}

    assert names("pytorch") == names("tensorflow")
    # git ignores a symlinked .gitignore, so each template holds a copy; they must agree.
    gitignores = [
        (ROOT / "templates" / fw / "{{cookiecutter.package_name}}" / ".gitignore")
        for fw in ("pytorch", "tensorflow")
    ]
    assert gitignores[0].read_text() == gitignores[1].read_text()


@pytest.mark.parametrize("name", ["pytorch", "tensorflow"])
def test_stock_cookiecutter_renders_each_template(tmp_path, name):
    result = run(
        tool("cookiecutter"),
        str(ROOT / "templates" / name),
        "--no-input",
        "-o",
        str(tmp_path),
        "project_name=plain-demo",
    )
    assert result.returncode == 0, result.stderr
    project = tmp_path / "plain_demo"
    assert (project / "src" / "plain_demo" / "train.py").is_file()
    assert (project / "data" / "digits.npz").stat().st_size > 40_000  # the real file, not a link
    assert not (project / "data" / "digits.npz").is_symlink()
    assert (project / ".github" / "workflows" / "ci.yml").is_file()


@pytest.mark.parametrize(
    "targets", [("server",), ("mobile", "web", "edge", "server")], ids=["server", "all"]
)
def test_server_dockerfile_passes_hadolint(catalog, tmp_path, framework, targets):
    project = generate(catalog, tmp_path, framework, "none", targets)
    linted = run(tool("hadolint"), str(project / "Dockerfile"))
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert (project / "src" / "demo_app" / "serve.py").is_file()


# The Debian releases uv's release workflow publishes `uv:VERSION-pythonX.Y-DEBIAN-slim` images
# for (astral-sh/uv, .github/workflows/build-docker.yml): bookworm's stopped with uv 0.10.
UV_IMAGE_DEBIAN = {"trixie"}


def test_images_are_ones_uv_publishes_and_the_runtime_matches_the_build(
    catalog, tmp_path, framework
):
    """The Dockerfile's and GitLab's uv image is one uv publishes, at the pinned uv; the
    runtime stage runs the build stage's environment, so it has the same Python and Debian."""
    project = generate(catalog, tmp_path, framework, "gitlab", ("server",))
    froms = re.findall(r"^FROM (\S+)", (project / "Dockerfile").read_text(), re.M)
    image = r"ghcr\.io/astral-sh/uv:(\d+\.\d+\.\d+)-python(3\.\d+)-(\w+)-slim"
    build = re.fullmatch(image, froms[0])
    assert build, froms[0]
    version, python, debian = build.groups()
    assert version == UV_VERSION and debian in UV_IMAGE_DEBIAN, froms[0]
    assert froms[1] == f"python:{python}-slim-{debian}", froms
    pipeline = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
    assert pipeline["default"]["image"] == froms[0]


def test_only_server_projects_get_the_service(catalog, tmp_path, framework):
    project = generate(catalog, tmp_path, framework, "none", ("web",))
    assert not (project / "Dockerfile").exists()
    assert not (project / "src" / "demo_app" / "serve.py").exists()
    assert "fastapi" not in (project / "pyproject.toml").read_text()


@pytest.mark.parametrize(
    ("framework", "artifact", "api"),
    [
        ("pytorch", "model.pte", "org.pytorch.executorch"),
        ("tensorflow", "model.tflite", "Interpreter"),
    ],
)
def test_mobile_projects_get_android_and_ios_snippets(catalog, tmp_path, framework, artifact, api):
    project = generate(catalog, tmp_path, framework, "none", ("mobile",))
    kotlin = (project / "deploy" / "android" / "DigitClassifier.kt").read_text()
    swift = (project / "deploy" / "ios" / "DigitClassifier.swift").read_text()
    assert artifact in kotlin and artifact in swift
    assert api in kotlin
    assert "64" in kotlin and "64" in swift  # the 8x8 input the model was exported with
    assert not (project / "deploy" / "edge").exists()


def test_edge_projects_get_the_light_runner(catalog, tmp_path, framework):
    project = generate(catalog, tmp_path, framework, "none", ("edge",))
    runner = (project / "deploy" / "edge" / "run.py").read_text()
    assert "import torch" not in runner and "import tensorflow" not in runner
    assert not (project / "deploy" / "android").exists()


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_ci_installs_with_pinned_uv_and_runs_the_readme_commands(catalog, tmp_path, framework, ci):
    """uv at a pinned version with its cache kept; `uv sync --locked` once uv.lock is
    committed, `uv sync` before; then the README's own `uv run` commands."""
    project = generate(catalog, tmp_path, framework, ci, ("server",))
    if ci == "github":
        workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text())
        steps = workflow["jobs"]["test"]["steps"]
        setup = [s for s in steps if s.get("uses", "").startswith("astral-sh/setup-uv@")]
        assert len(setup) == 1 and setup[0]["with"]["enable-cache"] is True
        version = setup[0]["with"]["version"]
        commands = [line for s in steps for line in s.get("run", "").splitlines()]
    else:
        pipeline = yaml.safe_load((project / ".gitlab-ci.yml").read_text())
        version = pipeline["default"]["image"].split(":")[1].split("-")[0]
        assert ".cache/uv" in pipeline[".python"]["cache"]["paths"]
        jobs = [job for job in pipeline.values() if isinstance(job, dict)]
        commands = [line for job in jobs for line in job.get("before_script", [])]
        commands += [line for job in jobs for line in job.get("script", [])]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), version
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]["test"]
    assert version == UV_VERSION and f"uv=={UV_VERSION}" in " ".join(pins), "one uv, pinned"
    if ci == "github":  # Dependabot keeps uv.lock and the pinned actions current
        dependabot = yaml.safe_load((project / ".github" / "dependabot.yml").read_text())
        ecosystems = {update["package-ecosystem"] for update in dependabot["updates"]}
        assert ecosystems == {"uv", "github-actions"}
    install = [c for c in commands if "uv sync" in c]
    assert install == [
        "if [ -f uv.lock ]; then uv sync --locked --extra cpu; else uv sync --extra cpu; fi"
    ]
    readme = (project / "README.md").read_text()
    assert "\nuv sync --extra cpu " in readme and "\nuv run pytest\n" in readme
    assert "uv run pytest" in commands and "uv run ruff check ." in commands
    package = project.name.replace("-", "_")
    assert f"uv run python -m {package}.train --config configs/smoke.yaml" in commands
