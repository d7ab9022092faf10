"""Bad data and bad settings get one line naming the problem and the fix, and exit code 2."""

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from {{ cookiecutter.package_name }}.train import main

from .conftest import ROOT


@pytest.fixture(autouse=True)
def in_the_project(monkeypatch):
    """The commands read configs/ and data/ from the current folder, as in the README."""
    monkeypatch.chdir(ROOT)


def digits(x=lambda images: images, y=lambda labels: labels, **arrays: np.ndarray):
    """The first 40 images of each split of data/digits.npz, changed by ``x`` and ``y``."""
    with np.load(ROOT / "data" / "digits.npz") as found:
        values = {
            name: (x if name.startswith("x") else y)(found[name][:40]) for name in found.files
        }
    return {**values, **arrays}


def npz(tmp_path: Path, arrays: dict[str, np.ndarray]) -> Path:
    np.savez(tmp_path / "data.npz", **arrays)
    return tmp_path / "data.npz"


def raw(tmp_path: Path, content: bytes) -> Path:
    (tmp_path / "data.npz").write_bytes(content)
    return tmp_path / "data.npz"


def npy_bytes() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((3, 8, 8), np.uint8))
    return buffer.getvalue()


def folder(tmp_path: Path, counts: dict[str, int]) -> Path:
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    for name, count in counts.items():
        (tmp_path / "images" / name).mkdir(parents=True)
        for index in range(count):
            pixels = rng.integers(0, 256, (8, 8), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "images" / name / f"{index}.png")
    return tmp_path / "images"


# Each case: how to make the data, and what the line names besides the file ("": the file
# alone). Names, not wording: a person who rewords a message keeps the suite green.
BAD_DATA = {
    "empty file": (lambda tmp: raw(tmp, b""), ""),
    "truncated": (lambda tmp: raw(tmp, (ROOT / "data" / "digits.npz").read_bytes()[:5000]), ""),
    "random bytes": (lambda tmp: raw(tmp, np.random.default_rng(0).bytes(5000)), ""),
    "an .npy named .npz": (lambda tmp: raw(tmp, npy_bytes()), ""),
    "8x6 images": (lambda tmp: npz(tmp, digits(x=lambda x: x[:, :, :6])), "8x6"),
    "2x2 images": (lambda tmp: npz(tmp, digits(x=lambda x: x[:, :2, :2])), ""),
    "label -1": (lambda tmp: npz(tmp, digits(y=lambda y: np.r_[-1, y[1:].astype(int)])), "-1"),
    "all-zero labels": (lambda tmp: npz(tmp, digits(y=np.zeros_like)), "y_train"),
    "float pixels x1000": (lambda tmp: npz(tmp, digits(x=lambda x: x * 1000.0)), "x_train"),
    "empty x_val": (
        lambda tmp: npz(
            tmp, digits(x_val=np.zeros((0, 8, 8), np.uint8), y_val=np.zeros(0, np.int64))
        ),
        "x_val",
    ),
    "one class folder": (lambda tmp: folder(tmp, {"a": 12}), ""),
    "an empty class folder": (lambda tmp: folder(tmp, {"a": 8, "b": 8, "c": 0}), ""),
    "an empty folder": (lambda tmp: folder(tmp, {}), ""),
    "a class too small to split": (lambda tmp: folder(tmp, {"a": 8, "b": 2}), ""),
}


@pytest.mark.parametrize("case", BAD_DATA, ids=list(BAD_DATA))
def test_bad_data_is_one_line_naming_it(case, tmp_path, capsys):
    make, named = BAD_DATA[case]
    data = make(tmp_path)
    assert main(["--set", f"data={data}", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert str(data) in err and named in err


BAD_SETTINGS = {  # each setting, and the name its error line gives
    "device=cpu:abc": "device",
    "epochs=!!python/object/apply:os.system ['echo owned']": "epochs",
    "learning_rate=.inf": "learning_rate",
    "learning_rate=.nan": "learning_rate",
}


@pytest.mark.parametrize("setting", BAD_SETTINGS)
def test_bad_settings_are_one_line_naming_them(setting, capsys):
    assert main(["--set", setting, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert BAD_SETTINGS[setting] in err


def test_a_config_directory_is_named_as_one(capsys):
    assert main(["--config", str(ROOT / "configs"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert str(ROOT / "configs") in err


@pytest.mark.parametrize("where", ["a file", "under /proc"])
def test_an_unusable_run_dir_is_named(where, tmp_path, capsys):
    if where == "a file":
        run_dir = tmp_path / "taken"
        run_dir.write_text("not a folder")
    else:
        if not Path("/proc/self").is_dir():
            pytest.skip("no /proc on this system")
        run_dir = Path("/proc/self/runs")
    assert main(["--set", f"run_dir={run_dir}", "--set", "epochs=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {run_dir}") and err.count("\n") == 1, err
    assert "run_dir" in err


def test_unreadable_images_are_skipped_with_a_warning_and_other_files_quietly(tmp_path, capsys):
    images = folder(tmp_path, {"a": 8, "b": 8})
    whole = (images / "a" / "0.png").read_bytes()
    (images / "a" / "0.png").write_bytes(whole[: len(whole) // 2])
    (images / "a" / "notes.txt").write_text("taken on Tuesday")
    (images / "b" / ".DS_Store").write_bytes(b"\0\1\2")
    assert main(["--set", f"data={images}", "--dry-run"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warn")]
    assert len(warnings) == 2 and str(images / "a" / "0.png") in warnings[0]
    assert str(images) in warnings[1]


def test_unequal_classes_are_reported_with_their_counts(tmp_path, capsys):
    images = folder(tmp_path, {"few": 4, "many": 16})
    assert main(["--set", f"data={images}", "--dry-run"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warn")]
    assert len(warnings) == 1 and re.search(r"\bfew\b\D*\b4\b", warnings[0]), warnings
    assert re.search(r"\bmany\b\D*\b16\b", warnings[0]), warnings
