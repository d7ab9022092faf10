"""Batch-1 latency of the pretrained backbone (model: mobilenet) in every runtime.

python -m bench.backbone [--image-size 224] [--calls 30] [--repeats 3]

For each framework: generates a project for every target, installs it (no dependencies) into
that framework's starter environment (bench/starter_env.py), writes a folder of colour photos
and a backbone weights file of random weights (nothing is downloaded), trains the new head for
one epoch at IMAGE_SIZE, exports to every target, and times each verified artifact with
bench/inference.py. Prints a Markdown table for bench/RESULTS.md. tests/test_starters.py uses
the same scripts (PHOTOS, BACKBONE_WEIGHTS, BACKBONE_CONFIG) at 32x32.
"""

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

from bench.starter_env import ROOT, run, starter_environment
from fwstart.api import load_catalog, new_project
from fwstart.questions import Answers

# Random backbone weights with BatchNorm statistics measured on random images (each library's
# random initialisation shrinks MobileNet's features to ~0, which no real weights do).
BACKBONE_WEIGHTS = {
    "pytorch": """
import sys, torch
from safetensors.torch import save_file
from {package}.backbone import PREFIX
from {package}.model import build_model
torch.manual_seed(0)
backbone = build_model("mobilenet", 3, 32, 3).backbone
for layer in backbone.modules():
    if isinstance(layer, torch.nn.BatchNorm2d):
        layer.momentum = None
with torch.no_grad():
    backbone.train()(torch.rand(32, 3, 32, 32) * 2 - 1)
save_file({{PREFIX + k: v.contiguous() for k, v in backbone.state_dict().items()}}, sys.argv[1])
""",
    "tensorflow": """
import sys, keras, numpy as np
from {package}.backbone import BACKBONE
from {package}.model import build_model
keras.utils.set_random_seed(0)
backbone = build_model("mobilenet", 3, 32, 3).get_layer(BACKBONE)
for layer in backbone.layers:
    if isinstance(layer, keras.layers.BatchNormalization):
        layer.momentum = 0.0
backbone(np.random.default_rng(0).uniform(0, 255, (32, 32, 32, 3)), training=True)
backbone.save_weights(sys.argv[1])
""",
}
WEIGHTS_FILE = {"pytorch": "backbone.safetensors", "tensorflow": "backbone.weights.h5"}
CHECKPOINT = {"pytorch": "best.ckpt", "tensorflow": "best.keras"}
# Three classes of colour photos, 30 of each, 40x40: clear enough that a few epochs give the
# int8 model clear margins (it must agree with the float model on 99% of the test images).
PHOTOS = """
import sys
from pathlib import Path
import numpy as np
from PIL import Image
rng = np.random.default_rng(0)
for label, name in enumerate(["red", "green", "blue"]):
    folder = Path(sys.argv[1]) / name
    folder.mkdir(parents=True)
    for index in range(30):
        pixels = rng.integers(0, 90, (40, 40, 3))
        pixels[..., label] += 160
        Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{index}.png")
"""
BACKBONE_CONFIG = """data: {data}
image_size: {image_size}
augment: false
model: mobilenet
weights: {weights}
epochs: {epochs}
head_epochs: {head_epochs}
batch_size: 16
run_dir: runs/backbone
artifacts_dir: artifacts/backbone
"""


def prepare(project: Path, package: str, framework: str, env: dict, **settings: int) -> Path:
    """Photos, a weights file and configs/backbone.yaml in ``project``; returns the config."""
    photos = project / "photos"
    run("python", "-c", PHOTOS, str(photos), cwd=project, env=env)
    weights = project / WEIGHTS_FILE[framework]
    script = BACKBONE_WEIGHTS[framework].format(package=package)
    run("python", "-c", script, str(weights), cwd=project, env=env)
    config = project / "configs" / "backbone.yaml"
    config.write_text(BACKBONE_CONFIG.format(data=photos, weights=weights, **settings))
    return config


def measure(framework: str, folder: Path, image_size: int, calls: int, repeats: int) -> dict:
    starter = starter_environment(framework)
    answers = Answers("deployment", ("mobile", "web", "edge", "server"), "neither", "none",
                      "github", ())  # fmt: skip
    project = new_project(load_catalog(), folder / f"{framework}-bench", answers, framework).path
    package = project.name.replace("-", "_")
    env = {**starter.variables, "OMP_NUM_THREADS": "1"}
    run("python", "-m", "pip", "install", "-q", "--no-deps", "-e", ".", cwd=project, env=env)
    config = prepare(project, package, framework, env, image_size=image_size, epochs=1,
                     head_epochs=1)  # fmt: skip
    run("python", "-m", f"{package}.train", "--config", str(config), cwd=project, env=env)
    # The server, mobile and edge targets: the web's runtimes run in Node.js. An artifact that
    # fails its check is still timed (the table says which).
    subprocess.run(
        ["python", "-m", f"{package}.export", "--config", str(config), "--target", "server",
         "--target", "mobile", "--target", "edge"],
        cwd=project, env=env, check=False, capture_output=True,
    )  # fmt: skip
    out = run(
        "python", str(ROOT / "bench" / "inference.py"), str(project),
        str(project / "artifacts" / "backbone"),
        str(project / "runs" / "backbone" / CHECKPOINT[framework]), str(calls), str(repeats),
        str(project / "photos"), cwd=ROOT, env=env,
    )  # fmt: skip
    results = json.loads(out.splitlines()[-1])
    manifest = json.loads((project / "artifacts" / "backbone" / "manifest.json").read_text())
    for entry in manifest["artifacts"]:
        if entry["file"] in results:
            results[entry["file"]]["verified"] = all(c["ok"] for c in entry["verified"])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    print(
        f"{args.image_size}x{args.image_size} photos; median of {args.calls} calls, "
        f"{args.repeats} times"
    )
    print(
        "| Framework | Artifact | Runtime | Size | Batch 1: median (min–max) | Test accuracy "
        "| Verified |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as scratch:
        for framework in ("pytorch", "tensorflow"):
            results = measure(framework, Path(scratch), args.image_size, args.calls, args.repeats)
            for name, found in results.items():
                times = sorted(found["batch1"])
                print(
                    f"| {framework} | `{name}` | {found['runtime']} | "
                    f"{found['size_bytes'] / 1024:.0f} KiB | {times[len(times) // 2] * 1000:.2f} "
                    f"ms ({times[0] * 1000:.2f}–{times[-1] * 1000:.2f}) | "
                    f"{found['test_accuracy']:.3f} | {found.get('verified', '-')} |",
                    flush=True,
                )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
