"""model: mobilenet: the pretrained backbone, a local weights file, and its frozen first epochs.

The weights file is written by the test (random weights: the tests download nothing). What
differs between the frameworks is the first four functions; the tests are the same.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from {{ cookiecutter.package_name }}.backbone import PREFIX
from {{ cookiecutter.package_name }}.config import Config, with_overrides
from {{ cookiecutter.package_name }}.model import build_model
from {{ cookiecutter.package_name }}.train import CHECKPOINT, load_checkpoint, main, train

from .test_resume import QUIET, interrupt_when_printed, saved_epoch

ROOT = Path(__file__).resolve().parents[1]
SIZE = 32  # MobileNet's smallest input: fast enough for a test


def write_weights(path: Path) -> None:
    """Random backbone weights, named as in the Hugging Face Hub's model.safetensors.
    transformers' random initialisation shrinks MobileNet's features to ~0 (no real weights
    do): BatchNorm statistics measured on random images keep them near 1."""
    torch.manual_seed(1)
    backbone = build_model("mobilenet", 3, SIZE, 3).backbone
    for layer in backbone.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.momentum = None  # a plain average: these images' statistics
    with torch.no_grad():
        backbone.train()(torch.rand(32, 3, SIZE, SIZE) * 2 - 1)
    save_file(
        {PREFIX + name: tensor.contiguous() for name, tensor in backbone.state_dict().items()}, path
    )


def write_other_weights(path: Path) -> None:
    """A weights file of another network (the small CNN's)."""
    save_file(build_model("small_cnn", 10, 8, 1).state_dict(), path)


def backbone_weights(model: torch.nn.Module) -> list[np.ndarray]:
    """Every weight of the backbone, BatchNorm statistics included."""
    return [tensor.numpy() for tensor in model.backbone.state_dict().values()]


def trained_backbone(run_dir: Path) -> list[np.ndarray]:
    return backbone_weights(load_checkpoint(run_dir / CHECKPOINT)[0])


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "model.safetensors"
    write_weights(path)
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three classes of colour photos (reddish, greenish, bluish), 12 of each, 40x40."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for label, name in enumerate(["red", "green", "blue"]):
        (root / name).mkdir()
        for index in range(12):
            pixels = rng.integers(0, 90, (40, 40, 3))
            pixels[..., label] += 160
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{index}.png")
    return root


@pytest.fixture()
def backbone_config(
    smoke_config: Config, photos: Path, weights_file: Path, tmp_path: Path
) -> Config:
    return with_overrides(
        smoke_config,
        data=str(photos),
        image_size=SIZE,
        model="mobilenet",
        weights=str(weights_file),
        batch_size=8,
        epochs=1,
        threads=1,
        run_dir=str(tmp_path / "runs"),
    )


def test_a_local_weights_file_is_loaded_into_the_backbone(weights_file):
    loaded = build_model("mobilenet", 5, SIZE, 3, str(weights_file))
    fresh = build_model("mobilenet", 5, SIZE, 3)
    saved = load_file(weights_file)
    for name, tensor in loaded.backbone.state_dict().items():
        np.testing.assert_array_equal(tensor.numpy(), saved[PREFIX + name].numpy())
    assert not np.array_equal(backbone_weights(loaded)[0], backbone_weights(fresh)[0])


def test_grey_images_are_seen_as_three_equal_colour_planes(weights_file):
    grey = build_model("mobilenet", 4, SIZE, 1, str(weights_file)).eval()
    colour = build_model("mobilenet", 4, SIZE, 3, str(weights_file)).eval()
    colour.classifier.load_state_dict(grey.classifier.state_dict())
    pixels = torch.rand(2, 1, SIZE, SIZE) * 255
    with torch.no_grad():
        torch.testing.assert_close(grey(pixels), colour(pixels.repeat(1, 3, 1, 1)))


# Each error is one line naming what was given wrong (not its wording, which people reword).
@pytest.mark.parametrize(
    ("settings", "named"),
    [
        (["model=resnet"], "resnet"),
        (["model=mobilenet", "weights=none"], "mobilenet"),
        (["model=mobilenet", "weights=missing.file"], "missing.file"),
        (["model=mobilenet", "weights=OTHER"], "OTHER"),
        (["model=mobilenet", "weights=CORRUPT"], "CORRUPT"),
    ],
)
def test_bad_backbone_settings_are_one_error_line(settings, named, photos, tmp_path, capsys):
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"not a weights file")
    other = tmp_path / "other.safetensors"
    write_other_weights(other)
    data = str(ROOT / "data" / "digits.npz") if "weights=none" in settings else str(photos)
    overrides = [
        item.replace("CORRUPT", str(corrupt)).replace("OTHER", str(other)) for item in settings
    ]
    argv = ["--dry-run", "--config", str(ROOT / "configs" / "smoke.yaml"), "--set", f"data={data}"]
    assert main([*argv, *(word for item in overrides for word in ("--set", item))]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    named = named.replace("CORRUPT", str(corrupt)).replace("OTHER", str(other))
    assert error[-1].startswith("error: ") and named in error[-1], error
    assert not any("Traceback" in line for line in error)


@pytest.mark.slow  # trains a MobileNet twice
@pytest.mark.parametrize(("head_epochs", "frozen"), [(1, True), (0, False)])
def test_the_backbone_stays_frozen_for_head_epochs(
    backbone_config, weights_file, head_epochs, frozen
):
    train(with_overrides(backbone_config, head_epochs=head_epochs))
    start = build_model("mobilenet", 3, SIZE, 3, str(weights_file))
    after = trained_backbone(Path(backbone_config.run_dir))
    same = all(np.array_equal(a, b) for a, b in zip(backbone_weights(start), after, strict=True))
    assert same == frozen


@pytest.mark.slow
def test_a_resumed_run_goes_on_in_the_phase_it_stopped_in(backbone_config):
    """Ctrl-C in the head phase, then in fine-tuning (head_epochs 2 of 5): each resumed run
    goes on in the phase of the epoch it stopped in."""
    run_dir = Path(backbone_config.run_dir)
    settings = {
        "data": backbone_config.data,
        "image_size": SIZE,
        "model": "mobilenet",
        "weights": backbone_config.weights,
        "batch_size": 8,
        "threads": 1,
        "run_dir": run_dir,
        "head_epochs": 2,
    }
    command = [
        sys.executable,
        "-m",
        "{{ cookiecutter.package_name }}.train",
        "--config",
        str(ROOT / "configs" / "smoke.yaml"),
        "--epochs",
        "5",
        *(word for key, value in settings.items() for word in ("--set", f"{key}={value}")),
    ]
    stopped_in = []
    outputs = []
    for line in ("epoch 1: backbone frozen", "epoch 3: fine-tuning"):
        stopped = interrupt_when_printed(command, line)
        assert stopped.returncode == 130, stopped.stdout
        outputs.append(stopped.stdout)
        stopped_in.append(saved_epoch(run_dir))
    finished = subprocess.run(
        command, env=QUIET, capture_output=True, text=True, timeout=600, check=False
    )
    assert finished.returncode == 0, finished.stderr
    # Ctrl-C stops at the next step: in the epoch that line began, or (on a busy machine) at
    # the end of it or in the next one, the same phase either way.
    head, tuning = stopped_in
    assert head in (1, 2) and tuning in (3, 4), stopped_in
    first, second, last = (*outputs, finished.stdout)
    assert "epoch 1: backbone frozen" in first
    assert f"epoch {head}: backbone frozen" in second and "epoch 3: fine-tuning" in second
    assert f"epoch {tuning}: fine-tuning" in last and "frozen" not in last
    assert json.loads((run_dir / "metrics.json").read_text())["resumed_from"]["epoch"] == tuning


# train with `import transformers` failing, as in an install without the extra.
WITHOUT_TRANSFORMERS = """
import sys
sys.modules["transformers"] = None
from {{ cookiecutter.package_name }}.train import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow  # starts a Python process per model
@pytest.mark.parametrize(("model", "code"), [("small_cnn", 0), ("mobilenet", 2)])
def test_only_the_backbone_needs_transformers(photos, model, code):
    argv = [
        "--dry-run",
        "--config",
        str(ROOT / "configs" / "smoke.yaml"),
        "--set",
        f"data={photos}",
        "--set",
        f"image_size={SIZE}",
        "--set",
        f"model={model}",
    ]
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_TRANSFORMERS, *argv],
        env=QUIET,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == code, done.stderr
    if code:  # one line that names the extra to install
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and ".[backbone]" in last, done.stderr
        assert "Traceback" not in done.stderr
