"""Generated starters, installed and run the way their README says: tests, train, export.

One environment, pinned by starter-constraints.txt, is shared by every generated project
(created on first use in .cache/starter-env, reused while the pins are unchanged).
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fwstart.api import new_project
from fwstart.questions import Answers

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = Path(__file__).parent / "starter-constraints.txt"
CACHE = Path(os.environ.get("FWSTART_CACHE", ROOT / ".cache"))
EVERY_TARGET = ("mobile", "web", "edge", "server")
# Besides the pins: what the starters and their builds (without isolation) need.
UNPINNED = ["pillow", "pyyaml", "tqdm", "pytest", "ruff", "hatchling", "editables"]


def sh(*command: str, cwd: Path, env: dict[str, str], timeout: int = 900) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(command)}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result.stdout


@pytest.fixture(scope="session")
def starter_env() -> dict[str, str]:
    """Environment variables that put the shared starter environment first on PATH."""
    env_dir = CACHE / "starter-env"
    stamp = env_dir / ".constraints-sha256"
    digest = hashlib.sha256(CONSTRAINTS.read_bytes() + " ".join(UNPINNED).encode()).hexdigest()
    if not stamp.is_file() or stamp.read_text() != digest:
        shutil.rmtree(env_dir, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
        packages = [
            line.split("==")[0]
            for line in CONSTRAINTS.read_text().splitlines()
            if line and not line.startswith("#")
        ]
        subprocess.run(
            [
                str(env_dir / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "-c",
                str(CONSTRAINTS),
                *packages,
                *UNPINNED,
            ],
            check=True,
        )
        stamp.write_text(digest)
    return {
        **os.environ,
        "PATH": f"{env_dir / 'bin'}:{os.environ['PATH']}",
        "VIRTUAL_ENV": str(env_dir),
        "TFJS_CONVERTER_ENV": str(CACHE / "tfjs-converter"),
        "PYTHONPATH": "",
    }


def install(project: Path, env: dict[str, str]) -> None:
    """pip install -e ".[dev]" as the README says, held to the tested versions."""
    sh(
        "python",
        "-m",
        "pip",
        "install",
        "-q",
        "--no-build-isolation",
        "-c",
        str(CONSTRAINTS),
        "-e",
        ".[dev]",
        cwd=project,
        env=env,
    )
    if (project / "web" / "package-lock.json").is_file():
        sh("npm", "ci", "--prefix", "web", "--no-audit", "--no-fund", cwd=project, env=env)


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
    install(project, starter_env)

    tests = sh(
        "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project, env=starter_env
    )
    summary = tests.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and not re.search(r"\d+ (failed|error)", summary)

    trained = sh(
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

    exported = sh(
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
    predicted = sh(
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
    install(project, starter_env)
    sh("python", "-m", f"{project.name.replace('-', '_')}.train", cwd=project, env=starter_env)
    metrics = json.loads((project / "runs" / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.95
