"""The generated HTTP service outside the training environment.

The PyTorch starter's service runs on ONNX Runtime: installed as its Dockerfile does it (the
`serve` extra, then the project with --no-deps), in a fresh environment without torch, it
starts, answers like the trained model, and stops on SIGTERM with exit code 0. The project has
the model registry too (so its `serve` extra holds MLflow's client): a version registered from
the training environment is served through `--model models:/...` from the serving one.
"""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from subprocess import Popen

import pytest

from bench.starter_env import CACHE, StarterEnv, install_project, run, starter_environment
from fwstart.api import new_project
from fwstart.questions import Answers

pytestmark = pytest.mark.slow

REFERENCE = """
import json
from pathlib import Path
from serve_demo import runtimes
from serve_demo.data import as_model_input, load_splits
from serve_demo.train import CHECKPOINT
pixels = as_model_input(load_splits("data/digits.npz")["test"].images[:8])
logits = runtimes.load_runner(Path("runs/smoke") / CHECKPOINT)(pixels)
print(json.dumps({"pixels": pixels.tolist(), "labels": logits.argmax(axis=1).tolist()}))
"""


@pytest.fixture(scope="module")
def exported(catalog, tmp_path_factory) -> tuple[Path, dict, StarterEnv]:
    """A PyTorch server project, trained and exported in the PyTorch starters' environment."""
    starter = starter_environment("pytorch")
    env = starter.variables
    answers = Answers("deployment", ("server",), "neither", "none", "none", ("registry",))
    project = new_project(
        catalog, tmp_path_factory.mktemp("p") / "serve-demo", answers, "pytorch"
    ).path
    install_project(project, starter)
    for step in ("train", "export"):
        run(
            "python",
            "-m",
            f"serve_demo.{step}",
            "--config",
            "configs/smoke.yaml",
            cwd=project,
            env=env,
        )
    return project, json.loads(run("python", "-c", REFERENCE, cwd=project, env=env)), starter


def serving_only_python(project: Path, constraints: Path) -> Path:
    """A venv with the serve extra's packages and the project without its dependencies."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    requirements = pyproject["project"]["optional-dependencies"]["serve"]
    digest = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:12]
    env_dir = CACHE / f"serve-only-{digest}"
    python = env_dir / "bin" / "python"
    if not (env_dir / ".complete").is_file():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(env_dir)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-c", str(constraints), *requirements],
            check=True,
        )
        (env_dir / ".complete").touch()
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(project)],
        check=True,
    )
    return python


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_ready(url: str, service: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and service.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"not ready within 120 s (exit code {service.poll()})")


def start_service(python: Path, project: Path, *args: str, **env: str) -> tuple[Popen, str]:
    """The service, started in the project; its URL, read from its first line."""
    service = subprocess.Popen(
        [str(python), "-m", "serve_demo.serve", "--port", "0", *args],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    assert service.stdout is not None
    first_line = service.stdout.readline()
    url = re.search(r"http://127\.0\.0\.1:\d+", first_line)
    assert url and "SIGTERM" in first_line, first_line
    wait_ready(url[0], service)
    return service, url[0]


def stop(service: Popen) -> None:
    service.send_signal(signal.SIGTERM)
    code = service.wait(timeout=30)
    assert code == 0, (code, service.stderr.read() if service.stderr else "")


def labels(url: str, pixels: list) -> list[int]:
    status, answer = post(f"{url}/v1/models/serve-demo:predict", {"instances": pixels})
    assert status == 200, answer
    return [row.index(max(row)) for row in answer["predictions"]]


def test_pytorch_service_runs_without_torch(exported):
    project, reference, starter = exported
    python = serving_only_python(project, starter.constraints)
    missing = subprocess.run([str(python), "-c", "import torch"], capture_output=True, check=False)
    assert missing.returncode != 0, "torch is installed in the serving environment"
    service, url = start_service(python, project, "--artifacts", "artifacts/smoke")
    try:
        assert labels(url, reference["pixels"]) == reference["labels"]
    finally:
        stop(service)


def test_a_registered_version_is_served_through_models_uri_without_torch(exported, tmp_path):
    project, reference, starter = exported
    registered = run(
        "python",
        "-m",
        "serve_demo.register",
        "--config",
        "configs/smoke.yaml",
        "--alias",
        "production",
        cwd=project,
        env=starter.variables,
    )
    version = re.search(r"version (\d+)", registered)
    assert version, registered
    python = serving_only_python(project, starter.constraints)
    cache = str(tmp_path / "cache")
    uri = "models:/serve-demo@production"
    service, url = start_service(python, project, "--model", uri, XDG_CACHE_HOME=cache)
    try:
        assert labels(url, reference["pixels"]) == reference["labels"]
        with urllib.request.urlopen(f"{url}/healthz", timeout=10) as response:
            health = json.loads(response.read())
        assert health == {"status": "ok", "model": "serve-demo", "version": version[1]}
    finally:
        stop(service)
    assert list(Path(cache).rglob("manifest.json")), "the version was not kept in the cache"
