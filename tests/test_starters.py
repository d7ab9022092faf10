"""Generated starters, installed and run the way their README says: tests, train, export.

One environment, pinned by bench/starter-constraints.txt, is shared by every generated
project (see bench/starter_env.py).
"""

import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from bench.starter_env import CACHE, install_project, light_python, run, starter_environment
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


def smoke_project(
    catalog, tmp_path: Path, env: dict[str, str], framework: str, targets: tuple[str, ...]
) -> tuple[Path, str]:
    """A generated project, installed, trained and exported with configs/smoke.yaml."""
    project = generate(catalog, tmp_path, framework, targets)
    package = project.name.replace("-", "_")
    install_project(project, env)
    for step in ("train", "export"):
        run(
            "python",
            "-m",
            f"{package}.{step}",
            "--config",
            "configs/smoke.yaml",
            cwd=project,
            env=env,
        )
    return project, package


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
@pytest.mark.parametrize("targets", [EVERY_TARGET, ()], ids=["all-targets", "research"])
def test_starter_installs_tests_trains_exports_and_predicts(
    catalog, tmp_path, starter_env, framework, targets
):
    project = generate(catalog, tmp_path, framework, targets)
    package = project.name.replace("-", "_")
    install_project(project, starter_env)
    # The TF.js converter's pins live in their own environment, never in the project's.
    assert "No broken requirements" in run(
        "python", "-m", "pip", "check", cwd=project, env=starter_env
    )

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


REFERENCE = """
import json
from pathlib import Path
from {package} import runtimes
from {package}.data import as_model_input, load_splits
from {package}.train import CHECKPOINT
pixels = as_model_input(load_splits("data/digits.npz")["test"].images[:8])
logits = runtimes.load_runner(Path("runs/smoke") / CHECKPOINT)(pixels)
print(json.dumps({{"pixels": pixels.tolist(), "logits": logits.tolist()}}))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_until_healthy(url: str, server: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_server_answers_real_requests_and_a_bounded_load(catalog, tmp_path, starter_env, framework):
    project, package = smoke_project(catalog, tmp_path, starter_env, framework, ("server",))
    reference = json.loads(
        run("python", "-c", REFERENCE.format(package=package), cwd=project, env=starter_env)
    )
    base = f"http://127.0.0.1:{free_port()}"
    server = subprocess.Popen(
        [
            "python",
            "-m",
            f"{package}.serve",
            "--port",
            base.rsplit(":", 1)[1],
            "--artifacts",
            "artifacts/smoke",
        ],
        cwd=project,
        env=starter_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_healthy(f"{base}/healthz", server)
        status, answer = post(
            f"{base}/predict", json.dumps({"instances": reference["pixels"]}).encode()
        )
        assert status == 200
        np.testing.assert_allclose(answer["predictions"], reference["logits"], atol=1e-4)

        for body in (b"nope", b'{"instances": [[1]]}', b'{"instances": []}'):
            status, answer = post(f"{base}/predict", body)
            assert status == 400 and answer["error"]

        one = json.dumps({"instances": reference["pixels"][:1]}).encode()
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda _: post(f"{base}/predict", one)[0], range(200)))
        assert statuses == [200] * 200

        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
            metrics = response.read().decode()
        assert 'requests_total{endpoint="/predict",status="200"} 201.0' in metrics
        assert 'requests_total{endpoint="/predict",status="400"} 3.0' in metrics
        assert "request_latency_seconds_count 201.0" in metrics
    finally:
        server.terminate()
        server.wait(timeout=30)


PREDICTED = """
import json
from pathlib import Path
from {package} import runtimes
from {package}.data import as_model_input, load_splits
pixels = as_model_input(load_splits("data/digits.npz")["test"].images)
print(json.dumps(runtimes.load_runner(Path("{model}"))(pixels).argmax(axis=1).tolist()))
"""


@pytest.mark.parametrize(
    ("framework", "runtime", "model"),
    [
        ("pytorch", "onnxruntime", "model.onnx"),
        ("tensorflow", "ai-edge-litert", "model_int8.tflite"),
    ],
)
def test_edge_runner_needs_only_numpy_and_the_runtime(
    catalog, tmp_path, starter_env, framework, runtime, model
):
    project, package = smoke_project(catalog, tmp_path, starter_env, framework, ("edge",))
    artifact = f"artifacts/smoke/{model}"
    expected = json.loads(
        run(
            "python",
            "-c",
            PREDICTED.format(package=package, model=artifact),
            cwd=project,
            env=starter_env,
        )
    )

    python = str(light_python(runtime))
    frameworks = run(
        python,
        "-c",
        "import importlib.util as u; "
        "print([m for m in ('torch', 'tensorflow', 'keras') if u.find_spec(m)])",
        cwd=project,
        env={},
    )
    assert frameworks.strip() == "[]", "the edge environment must hold no training framework"
    device = tmp_path / "device"  # only what the README says to copy
    device.mkdir()
    for name in (
        "deploy/edge/run.py",
        artifact,
        "artifacts/smoke/manifest.json",
        "data/digits.npz",
    ):
        (device / Path(name).name).write_bytes((project / name).read_bytes())
    out = run(python, "run.py", model, "digits.npz", cwd=device, env={})
    assert json.loads(out)["predictions"] == [str(label) for label in expected]


BROWSER = Path(__file__).parent / "browser"
IMAGES = """
import json
from pathlib import Path
from PIL import Image
from {package} import runtimes
from {package}.data import as_model_input, load_splits
from {package}.train import CHECKPOINT
images = load_splits("data/digits.npz")["test"].images[:6]
for index, image in enumerate(images):
    Image.fromarray(image).save(Path("{folder}") / f"{{index}}.png")
logits = runtimes.load_runner(Path("runs/smoke") / CHECKPOINT)(as_model_input(images))
print(json.dumps(logits.tolist()))
"""


@pytest.fixture(scope="session")
def browser_driver() -> Path:
    """puppeteer-core driving Debian's Chromium (apt-get install chromium): no browser download."""
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    assert Path(chromium).is_file(), f"{chromium} is missing: apt-get install chromium"
    if not (BROWSER / "node_modules" / "puppeteer-core").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER, check=True)
    return BROWSER / "classify.mjs"


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_web_page_classifies_in_headless_chromium_like_python(
    catalog, tmp_path, starter_env, browser_driver, framework
):
    project, package = smoke_project(catalog, tmp_path, starter_env, framework, ("web",))
    folder = tmp_path / "images"
    folder.mkdir()
    script = IMAGES.format(package=package, folder=folder)
    expected = np.asarray(json.loads(run("python", "-c", script, cwd=project, env=starter_env)))
    images = sorted(str(path) for path in folder.glob("*.png"))

    # The page's own command, as its README says, on the smoke run's artifacts.
    port = free_port()
    server = subprocess.Popen(
        ["python", "-m", f"{package}.web", "--port", str(port), "--artifacts", "artifacts/smoke"],
        cwd=project,
        env=starter_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    screenshot = CACHE / "screenshots" / f"web-{framework}.png"  # look at it after a run
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_healthy(url, server)
        out = run(
            "node",
            str(browser_driver),
            url,
            str(screenshot),
            *images,
            cwd=BROWSER,
            env=starter_env,
            timeout=300,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    page = json.loads(out)
    assert page["problems"] == []
    logits = np.asarray(page["logits"])
    assert (logits.argmax(axis=1) == expected.argmax(axis=1)).all()
    np.testing.assert_allclose(logits, expected, atol=1e-4)
    assert len(page["drawing_top3"]) == 3
    assert screenshot.stat().st_size > 5_000
