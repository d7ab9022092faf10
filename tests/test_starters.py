"""Generated starters, installed and run the way their README says: tests, train, export.

One environment, pinned by bench/starter-constraints.txt, is shared by every generated
project (see bench/starter_env.py).
"""

import json
import re
from pathlib import Path

import pytest

from bench.starter_env import install_project, run, starter_environment
from fwstart.api import new_project
from fwstart.questions import Answers

pytestmark = pytest.mark.slow

EVERY_TARGET = ("mobile", "web", "edge", "server")


@pytest.fixture(scope="session")
def starter_env() -> dict[str, str]:
    return starter_environment()


def generate(catalog, tmp_path: Path, framework: str, targets: tuple[str, ...]) -> Path:
    goal = "deployment" if targets else "research"
    answers = Answers(goal=goal, targets=targets, experience="neither", stack="none", ci="github")
    return new_project(catalog, tmp_path / f"{framework}-demo", answers, framework).path


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
@pytest.mark.parametrize("targets", [EVERY_TARGET, ()], ids=["all-targets", "research"])
def test_starter_installs_tests_trains_exports_and_predicts(
    catalog, tmp_path, starter_env, framework, targets
):
    project = generate(catalog, tmp_path, framework, targets)
    package = project.name.replace("-", "_")
    install_project(project, starter_env)

    tests = run(
        "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project, env=starter_env
    )
    summary = tests.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and not re.search(r"\d+ (failed|error)", summary)

    trained = run(
        "python",
        "-m",
        f"{package}.train",
        "--config",
        "configs/smoke.yaml",
        cwd=project,
        env=starter_env,
    )
    metrics = json.loads((project / "runs" / "smoke" / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.9, trained

    exported = run(
        "python",
        "-m",
        f"{package}.export",
        "--config",
        "configs/smoke.yaml",
        cwd=project,
        env=starter_env,
    )
    if not targets:
        assert "nothing to export" in exported
        return
    manifest = json.loads((project / "artifacts" / "smoke" / "manifest.json").read_text())
    covered = {target for entry in manifest["artifacts"] for target in entry["targets"]}
    assert covered == set(targets)
    assert all(check["ok"] for entry in manifest["artifacts"] for check in entry["verified"])
    web = "onnxruntime-web" if framework == "pytorch" else "tfjs (Node.js)"
    assert any(c["runtime"] == web for e in manifest["artifacts"] for c in e["verified"])

    first = project / "artifacts" / "smoke" / manifest["artifacts"][0]["file"]
    predicted = run(
        "python",
        "-m",
        f"{package}.predict",
        "data/digits.npz",
        "--model",
        str(first),
        cwd=project,
        env=starter_env,
    )
    assert "accuracy on 270 images" in predicted


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_default_config_reaches_the_promised_accuracy(catalog, tmp_path, starter_env, framework):
    project = generate(catalog, tmp_path, framework, ())
    install_project(project, starter_env)
    run("python", "-m", f"{project.name.replace('-', '_')}.train", cwd=project, env=starter_env)
    metrics = json.loads((project / "runs" / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.95
