"""Photos in, on every target: a folder of generated photos (every mode and format Pillow reads,
30-400 pixels, a truncated file, files that are not images) trains with nothing but
``--set data=FOLDER``, exports to every target, and one JPEG gets the framework's class from
predict, the edge runner and the service's ``{"b64": ...}`` instances."""

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.photos import CORRUPT, NOT_IMAGES
from bench.starter_env import install_project, run
from tests.services import post, serving
from tests.test_starters import EVERY_TARGET, generate

pytestmark = pytest.mark.slow

REPOSITORY = Path(__file__).resolve().parents[1]
# The framework's own answer for one photo: the checkpoint, on pixels from images.py.
FRAMEWORK_CLASS = """
import json, sys
from pathlib import Path
from {package} import runtimes
from {package}.data import as_model_input
from {package}.images import load_image
from {package}.train import CHECKPOINT
manifest = json.loads(Path("artifacts/manifest.json").read_text())
pixels = load_image(Path(sys.argv[1]), manifest["image_size"], manifest["channels"])
logits = runtimes.load_runner(Path("runs") / CHECKPOINT)(as_model_input(pixels[None]))
print(json.dumps([int(logits.argmax()), manifest["classes"][int(logits.argmax())]]))
"""


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory, starter_envs) -> Path:
    """160 generated photos in four pattern classes (bench/photos.py), made once."""
    folder = tmp_path_factory.mktemp("photos") / "photos"
    env = starter_envs("pytorch").variables  # any environment with Pillow and NumPy
    run("python", "-m", "bench.photos", str(folder), cwd=REPOSITORY, env=env)
    return folder


def served_class(project: Path, package: str, env: dict[str, str], photo: Path) -> int:
    """The class the service answers for ``photo`` sent as TF Serving's {"b64": ...}."""
    with serving(project, env, f"{package}.serve", ready="/v2/health/ready") as base:
        body = {"instances": [{"b64": base64.b64encode(photo.read_bytes()).decode()}]}
        name = run(
            "python",
            "-c",
            f"from {package}.serve import MODEL_NAME; print(MODEL_NAME)",
            cwd=project,
            env=env,
        ).strip()
        status, answer = post(f"{base}/v1/models/{name}:predict", json.dumps(body).encode())
        assert status == 200, answer
        refused, error = post(f"{base}/predict", b'{"instances": [{"b64": "no image"}]}')
        assert refused == 400 and "base64" in error["error"]
        logits = answer["predictions"][0]
        return max(range(len(logits)), key=logits.__getitem__)


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_a_photo_folder_trains_exports_and_gets_one_answer_everywhere(
    catalog, tmp_path, starter_envs, photo_folder, framework
):
    starter = starter_envs(framework)
    env = starter.variables
    project = generate(catalog, tmp_path, framework, EVERY_TARGET)
    package = project.name.replace("-", "_")
    install_project(project, starter)

    trained = subprocess.run(
        ["python", "-m", f"{package}.train", "--set", f"data={photo_folder}"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert trained.returncode == 0, trained.stderr[-4000:]
    assert f"warning: skipped {photo_folder / CORRUPT}: is not a readable image" in trained.stderr
    assert f"skipped 1 unreadable image(s) of {photo_folder}" in trained.stderr
    assert not any(path.name in trained.stderr for path in NOT_IMAGES), trained.stderr
    assert "PredictCost" not in trained.stderr  # TensorFlow's noise about the augmentation
    # Learned, whatever the machine: chance is 0.25, and seeds 0-3 reach 0.78-1.0 on 2 cores
    # (the sums, hence the run, follow the number of cores).
    assert json.loads((project / "runs" / "metrics.json").read_text())["test_accuracy"] >= 0.6

    run("python", "-m", f"{package}.export", cwd=project, env=env)
    manifest = json.loads((project / "artifacts" / "manifest.json").read_text())
    assert (manifest["channels"], manifest["resize"]) == (3, "centre-square-crop, bilinear")
    assert manifest["classes"] == ["checks", "hstripes", "rings", "vstripes"]
    assert {target for entry in manifest["artifacts"] for target in entry["targets"]} == set(
        EVERY_TARGET
    )
    assert all(check["ok"] for entry in manifest["artifacts"] for check in entry["verified"])

    photo = photo_folder / "rings" / "rings-0000.jpg"
    script = FRAMEWORK_CLASS.format(package=package)
    index, name = json.loads(run("python", "-c", script, str(photo), cwd=project, env=env))
    predicted = run("python", "-m", f"{package}.predict", str(photo), cwd=project, env=env)
    assert f"image 0: {name} " in predicted, predicted

    device = tmp_path / "device"  # the edge runner's folder, its model and the manifest
    shutil.copytree(project / "deploy" / "edge", device)
    edge_model = next(  # run.py's float model: ONNX, or LiteRT float32
        e["file"]
        for e in manifest["artifacts"]
        if "edge" in e["targets"]
        and e["file"].endswith((".onnx", ".tflite"))
        and e.get("precision", "float32") == "float32"
    )
    for name_ in (edge_model, "manifest.json"):
        shutil.copy(project / "artifacts" / name_, device / name_)
    edge = run("python", "run.py", edge_model, str(photo), cwd=device, env=env)
    assert json.loads(edge)["predictions"] == [name]

    assert served_class(project, package, env, photo) == index
