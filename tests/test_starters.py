"""Generated starters, installed and run the way their README says: tests, train, export.

Each framework has its own environment, built from nothing but its largest project's README
install command (pins: bench/constraints-<framework>.txt; see bench/starter_env.py); smaller
projects of that framework are installed into it the same way. The default projects are also
set up from scratch in tests/test_readme_commands.py.
"""

import functools
import json
import os
import re
import shutil
import subprocess
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from bench.backbone import prepare as prepare_backbone
from bench.starter_env import (
    CACHE,
    StarterEnv,
    constraints_file,
    install_project,
    light_python,
    readme_install_commands,
    run,
)
from fwstart.api import new_project
from fwstart.questions import Answers
from tests.services import post, serving

pytestmark = pytest.mark.slow

EVERY_TARGET = ("mobile", "web", "edge", "server")


def installed_requirements(python: str, seeds: list[str]) -> set[str]:
    """Distributions installed as requirements of ``seeds`` (requirement strings: the dev
    group's and ``project[cpu]``), followed transitively."""
    script = (
        "import json, re, sys\n"
        "from importlib.metadata import distribution\n"
        "from packaging.requirements import Requirement\n"
        "norm = lambda n: re.sub(r'[-_.]+', '-', n).lower()\n"
        "seeds = [Requirement(r) for r in json.loads(sys.argv[1])]\n"
        "seen = {(norm(r.name), tuple(sorted(r.extras))) for r in seeds}\n"
        "todo = [(r.name, tuple(r.extras)) for r in seeds]\n"
        "while todo:\n"
        "    name, extras = todo.pop()\n"
        "    for text in distribution(name).requires or []:\n"
        "        req = Requirement(text)\n"
        "        wanted = [{'extra': e} for e in extras] or [{'extra': ''}]\n"
        "        if req.marker and not any(req.marker.evaluate(w) for w in wanted):\n"
        "            continue\n"
        "        key = (norm(req.name), tuple(sorted(req.extras)))\n"
        "        if key not in seen:\n"
        "            seen.add(key)\n"
        "            todo.append((req.name, tuple(req.extras)))\n"
        "print(json.dumps(sorted({name for name, _ in seen})))\n"
    )
    out = subprocess.run([python, "-c", script, json.dumps(seeds)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout))


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_environment_is_built_by_the_readme_install_and_pins_only_what_it_requires(
    starter_envs, framework
):
    starter = starter_envs(framework)
    project = Path(starter.record["project"])
    expected = [c for c in readme_install_commands(project) if c[0] == "uv"]
    assert starter.record["commands"] == expected == [["uv", "sync", "--extra", "cpu"]]
    lines = constraints_file(framework).read_text().splitlines()
    pinned = {line.split("==")[0] for line in lines if line and not line.startswith("#")}
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    seeds = [*pyproject["dependency-groups"]["dev"], f"{pyproject['project']['name']}[cpu]"]
    required = installed_requirements(str(starter.directory / "bin" / "python"), seeds)
    assert pinned <= required, f"pinned but not required by the project: {pinned - required}"
    other = "tensorflow" if framework == "pytorch" else "torch"
    found = run(
        "python",
        "-c",
        f"import importlib.util as u; print(u.find_spec({other!r}))",
        cwd=project,
        env=starter.variables,
    )
    assert found.strip() == "None", f"{other} must not be in the {framework} environment"


def generate(
    catalog, tmp_path: Path, framework: str, targets: tuple[str, ...], with_: tuple[str, ...] = ()
) -> Path:
    goal = "deployment" if targets else "research"
    answers = Answers(goal, targets, "neither", "none", "github", with_)
    return new_project(catalog, tmp_path / f"{framework}-demo", answers, framework).path


@dataclass(frozen=True)
class Largest:
    """A framework's largest project (every target and option), installed into its
    environment, trained and exported with configs/smoke.yaml: once per test session, for every
    check here."""

    project: Path
    package: str
    starter: StarterEnv


@pytest.fixture(scope="session")
def largest(catalog, tmp_path_factory, starter_envs) -> Callable[[str], Largest]:
    @functools.cache
    def make(framework: str) -> Largest:
        starter = starter_envs(framework)
        every_option = tuple(catalog.by_key["with"].choices)
        answers = Answers("deployment", EVERY_TARGET, "neither", "none", "github", every_option)
        # A name of its own: other tests install their projects into the same environment.
        folder = tmp_path_factory.mktemp("largest") / f"largest-{framework}"
        project = new_project(catalog, folder, answers, framework).path
        package = project.name.replace("-", "_")
        install_project(project, starter)
        for step in ("train", "export"):
            run(
                "python", "-m", f"{package}.{step}", "--config", "configs/smoke.yaml",
                cwd=project, env=starter.variables,
            )  # fmt: skip
        return Largest(project, package, starter)

    return make


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_starter_installs_tests_trains_exports_and_predicts(largest, framework):
    # The largest project: every target and every option (its own tests exercise them); the
    # research projects are set up from scratch in tests/test_readme_commands.py.
    built = largest(framework)
    project, package, starter = built.project, built.package, built.starter
    starter_env = starter.variables
    targets = EVERY_TARGET
    assert "No broken requirements" in run(
        "python", "-m", "pip", "check", cwd=project, env=starter_env
    )

    # The slow tests too (the project's own pytest leaves them out; its CI runs them).
    tests = run(
        "python",
        "-m",
        "pytest",
        "-qrs",
        "-p",
        "no:cacheprovider",
        "-m",
        "slow or not slow",
        cwd=project,
        env=starter_env,
        timeout=2400,  # TensorFlow's whole suite: about 15 minutes on two cores
    )
    summary = tests.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and not re.search(r"\d+ (failed|error)", summary)
    # Monitoring's tests run promtool and a real Prometheus against the service: never skipped
    # here (CI installs the prometheus package).
    skipped = [line for line in tests.splitlines() if line.startswith("SKIPPED")]
    assert not [line for line in skipped if "prom" in line], skipped

    metrics = json.loads((project / "runs" / "smoke" / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.9, metrics

    manifest = json.loads((project / "artifacts" / "smoke" / "manifest.json").read_text())
    covered = {target for entry in manifest["artifacts"] for target in entry["targets"]}
    assert covered == set(targets)
    assert all(check["ok"] for entry in manifest["artifacts"] for check in entry["verified"])
    web = "onnxruntime-web" if framework == "pytorch" else "LiteRT.js (Node.js)"
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
    train_and_export_the_backbone(project, package, starter)


def train_and_export_the_backbone(project: Path, package: str, starter: StarterEnv) -> None:
    """model: mobilenet trains from a local weights file, and every target's export verifies."""
    # Photos and a weights file the test writes (random weights: it cannot download ImageNet's).
    settings = {"image_size": 32, "epochs": 4, "head_epochs": 2}
    config = prepare_backbone(project, package, starter.framework, starter.variables, **settings)
    trained = run(
        "python", "-m", f"{package}.train", "--config", str(config),
        cwd=project, env=starter.variables,
    )  # fmt: skip
    assert "epoch 1: backbone frozen" in trained and "epoch 3: fine-tuning" in trained
    exported = run(
        "python", "-m", f"{package}.export", "--config", str(config),
        cwd=project, env=starter.variables,
    )  # fmt: skip
    assert "artifact(s) verified" in exported
    manifest = json.loads((project / "artifacts" / "backbone" / "manifest.json").read_text())
    assert manifest["model"] == "mobilenet" and manifest["image_size"] == 32
    assert {t for entry in manifest["artifacts"] for t in entry["targets"]} == set(EVERY_TARGET)
    assert all(check["ok"] for entry in manifest["artifacts"] for check in entry["verified"])
    web = "onnxruntime-web" if starter.framework == "pytorch" else "LiteRT.js (Node.js)"
    assert any(c["runtime"] == web for e in manifest["artifacts"] for c in e["verified"])


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


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_server_answers_real_requests_and_a_bounded_load(largest, framework):
    built = largest(framework)
    project, package, starter_env = built.project, built.package, built.starter.variables
    reference = json.loads(
        run("python", "-c", REFERENCE.format(package=package), cwd=project, env=starter_env)
    )
    serve = (project, starter_env, f"{package}.serve", "--artifacts", "artifacts/smoke")
    with serving(*serve, ready="/v2/health/ready") as base:
        status, answer = post(
            f"{base}/predict", json.dumps({"instances": reference["pixels"]}).encode()
        )
        assert status == 200, answer
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
def test_edge_runner_needs_only_numpy_and_the_runtime(largest, tmp_path, framework, runtime, model):
    built = largest(framework)
    project, package, starter = built.project, built.package, built.starter
    starter_env = starter.variables
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

    python = str(light_python(runtime, starter.constraints))
    frameworks = run(
        python,
        "-c",
        "import importlib.util as u; "
        "print([m for m in ('torch', 'tensorflow', 'keras') if u.find_spec(m)])",
        cwd=project,
        env={},
    )
    assert frameworks.strip() == "[]", "the edge environment must hold no training framework"
    readme = (project / "README.md").read_text()
    device = tmp_path / "device"  # only what the README says to copy
    device.mkdir()
    for name in (
        "deploy/edge/run.py",
        "deploy/edge/images.py",
        artifact,
        "artifacts/smoke/manifest.json",
        "data/digits.npz",
    ):
        assert f"`{name.replace('/smoke', '')}`" in readme or name.startswith("data/"), name
        (device / Path(name).name).write_bytes((project / name).read_bytes())
    out = run(python, "run.py", model, "digits.npz", cwd=device, env={})
    assert json.loads(out)["predictions"] == [str(label) for label in expected]
    # A photo without Pillow (not installed here): one line saying what to install.
    (device / "photo.png").write_bytes(b"never read: the import of Pillow fails first")
    photo = subprocess.run(
        [python, "run.py", model, "photo.png"], cwd=device, capture_output=True, text=True
    )
    assert photo.returncode == 1 and photo.stderr.strip().splitlines() == [
        "error: photos need Pillow: pip install pillow"
    ], photo.stderr


BROWSER = Path(__file__).parent / "browser"
IMAGES = """
import json
from pathlib import Path
import numpy as np
from PIL import Image
from {package} import runtimes
from {package}.images import load_image
from {package}.data import as_model_input, load_splits
from {package}.train import CHECKPOINT
folder = Path("{folder}")
digits = load_splits("data/digits.npz")["test"].images[:6, ..., 0]  # grey (N, 8, 8)
for index, image in enumerate(digits):
    Image.fromarray(image).save(folder / f"digit-{{index}}.png")

# Photos as people drop them: any size, colour, EXIF-rotated, transparent, palette.
big = Image.fromarray(digits[0]).resize((160, 160), Image.NEAREST)
photo = Image.new("RGB", (260, 180), (20, 30, 90))
photo.paste(Image.merge("RGB", [big, big.point(lambda v: v // 2), big]), (50, 10))
exif = Image.Exif()
exif[0x0112] = 6  # shown rotated 90 degrees clockwise: stored turned the other way
photo.transpose(Image.Transpose.ROTATE_90).save(folder / "photo-exif.jpg", quality=92, exif=exif)
rgba = Image.fromarray(digits[1]).resize((90, 130), Image.BILINEAR).convert("RGBA")
alpha = Image.fromarray(np.where(digits[1] > 60, 255, 100).astype(np.uint8))
rgba.putalpha(alpha.resize((90, 130)))
rgba.save(folder / "photo-alpha.png")
Image.fromarray(digits[2]).resize((57, 41)).convert("P").save(folder / "photo-palette.gif")

paths = sorted(folder.glob("digit-*.png")) + sorted(folder.glob("photo-*"))
manifest = json.loads(Path("artifacts/smoke/manifest.json").read_text())
size, channels = manifest["image_size"], manifest["channels"]
images = np.stack([load_image(path, size, channels) for path in paths])
logits = runtimes.load_runner(Path("runs/smoke") / CHECKPOINT)(as_model_input(images))
print(json.dumps({{"paths": [str(p) for p in paths], "inputs": images.tolist(),
                  "logits": logits.tolist()}}))
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
    largest, tmp_path, browser_driver, framework
):
    built = largest(framework)
    project, package, starter_env = built.project, built.package, built.starter.variables
    folder = tmp_path / "images"
    folder.mkdir()
    script = IMAGES.format(package=package, folder=folder)
    python = json.loads(run("python", "-c", script, cwd=project, env=starter_env))
    images, expected = python["paths"], np.asarray(python["logits"])

    # The page's own command, as its README says, on the smoke run's artifacts, as a model
    # of other classes: the page's words must come from the model's classes.
    screenshot = CACHE / "screenshots" / f"web-{framework}.png"  # look at it after a run
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(project / "artifacts" / "smoke", project / "artifacts" / "shapes")
    manifest_file = project / "artifacts" / "shapes" / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["classes"] = [f"shape-{name}" for name in manifest["classes"]]
    manifest_file.write_text(json.dumps(manifest))
    page_server = (project, starter_env, f"{package}.web", "--artifacts", "artifacts/shapes")
    with serving(*page_server, ready="/") as base:
        out = run(
            "node",
            str(browser_driver),
            f"{base}/",
            str(screenshot),
            *images,
            cwd=BROWSER,
            env=starter_env,
            timeout=300,
        )
    page = json.loads(out)
    assert page["problems"] == []
    digits = [i for i, path in enumerate(images) if "digit-" in path]
    logits = np.asarray([image["logits"] for image in page["images"]])
    assert (logits.argmax(axis=1) == expected.argmax(axis=1)).all()
    # The digits PNGs need no resize: the page must match Python exactly.
    np.testing.assert_allclose(logits[digits], expected[digits], atol=1e-4)
    # Photos pass through two decoders: nearly the same tensor (0-255 levels), same class.
    for path, image, wanted in zip(images, page["images"], python["inputs"], strict=True):
        difference = np.abs(np.asarray(image["input"]) - np.asarray(wanted).ravel())
        assert difference.mean() <= 1 and difference.max() <= 4, (path, difference.max())
    assert len(page["drawing_top3"]) == 3
    assert screenshot.stat().st_size > 5_000
    assert_the_pad_shows_what_the_model_sees(page["images"], manifest)
    assert all(name in page["status"] for name in manifest["classes"]), page["status"]
    assert "digit" not in page["text"].lower(), page["text"]
    # Each target lists only what runs there: the web's artifacts are what the page loads.
    web = {entry["file"] for entry in manifest["artifacts"] if "web" in entry["targets"]}
    assert set(page["fetched"]) - {"manifest.json"} == web
    rows = re.findall(
        r"^\| `([^`]+)` \| [^|]+ \| ([^|]+) \|", (project / "README.md").read_text(), re.M
    )
    assert {file for file, targets in rows if "web" in targets.split(", ")} == web


def assert_the_pad_shows_what_the_model_sees(images: list[dict], manifest: dict) -> None:
    """After each image, the pad holds the model's input, each input pixel a square."""
    size, channels, layout = (
        manifest["image_size"],
        manifest["channels"],
        manifest["input"]["layout"],
    )
    for image in images:
        height, width, rgba = image["pad"]
        pad = np.asarray(rgba, np.uint8).reshape(height, width, 4)[..., :3]
        centres = ((np.arange(size) + 0.5) * height / size).astype(int)
        seen = pad[np.ix_(centres, centres)].astype(np.float32)  # (size, size, 3)
        shape = (channels, size, size) if layout == "NCHW" else (size, size, channels)
        model_input = np.asarray(image["input"], np.float32).reshape(shape)
        if layout == "NCHW":
            model_input = model_input.transpose(1, 2, 0)
        np.testing.assert_array_equal(seen, np.broadcast_to(model_input, (size, size, 3)))
        assert seen.max() > 0, "the pad stayed black"
