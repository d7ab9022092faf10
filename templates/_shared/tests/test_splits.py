"""Reading the data: the fixed split of the sample digits, your own .npz or image folder."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from {{ cookiecutter.package_name }}.splits import load_splits, num_classes

from .bombs import png_bomb

ROOT = Path(__file__).resolve().parents[1]


def photo_classes(folder: Path, names: tuple[str, ...] = ("a", "b"), count: int = 3) -> Path:
    """``folder``/<name>/<index>.png: ``count`` small photos in each class folder."""
    for label, name in enumerate(names):
        (folder / name).mkdir(parents=True)
        for index in range(count):
            Image.new("RGB", (20, 10), (index, label * 100, 0)).save(folder / name / f"{index}.png")
    return folder


def test_splits_have_the_documented_shapes(default_config):
    splits = load_splits(default_config.data)
    sizes = {name: len(split) for name, split in splits.items()}
    assert sizes == {"train": 1257, "val": 270, "test": 270}
    assert splits["train"].images.dtype == np.uint8
    assert splits["train"].images.shape[1:] == (8, 8, 1)
    assert num_classes(splits) == 10


def test_splits_do_not_overlap(default_config):
    splits = load_splits(default_config.data)
    rows = {name: {image.tobytes() for image in split.images} for name, split in splits.items()}
    assert not rows["test"] & rows["train"]
    assert not rows["val"] & rows["train"]


def test_missing_array_is_named(tmp_path):
    path = tmp_path / "partial.npz"
    np.savez(path, x_train=np.zeros((2, 8, 8), np.uint8), y_train=np.zeros(2))
    with pytest.raises(ValueError, match="x_val"):
        load_splits(path)


def test_an_image_folder_splits_stratified_and_stably(tmp_path):
    rng = np.random.default_rng(0)
    for name, count in (("cat", 10), ("dog", 20)):
        (tmp_path / name).mkdir()
        for index in range(count):
            pixels = rng.integers(0, 256, (12 + index, 30, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{index}.png")
    splits = load_splits(tmp_path, image_size=16)
    counts = {name: np.bincount(split.labels).tolist() for name, split in splits.items()}
    assert counts == {"train": [6, 14], "val": [2, 3], "test": [2, 3]}
    assert splits["train"].images.shape[1:] == (16, 16, 3)
    assert num_classes(splits) == 2
    again = load_splits(tmp_path, image_size=16)  # the same files in the same splits
    for name, split in splits.items():
        np.testing.assert_array_equal(split.images, again[name].images)


def test_grayscale_photos_have_one_channel_and_one_colour_photo_makes_three(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for index in range(3):
            Image.new("L", (20, 10), 40 * index).save(tmp_path / name / f"{index}.png")
    assert load_splits(tmp_path, image_size=8)["train"].images.shape[1:] == (8, 8, 1)
    Image.new("RGB", (9, 9), (200, 10, 10)).save(tmp_path / "a" / "red.jpg")
    assert load_splits(tmp_path, image_size=8)["train"].images.shape[1:] == (8, 8, 3)


def test_the_cache_is_reused_while_the_folder_is_unchanged(tmp_path, capsys):
    for name in ("a", "b"):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for index in range(3):
            picture = Image.new("RGB", (20, 10), (index, 0, 0))
            picture.save(tmp_path / "photos" / name / f"{index}.png")
    (tmp_path / "photos" / "a" / "bad.jpg").write_bytes(b"not a photo")
    first = load_splits(tmp_path / "photos", 8, 3, tmp_path / "cache")
    made = sorted((tmp_path / "cache").iterdir())
    again = load_splits(tmp_path / "photos", 8, 3, tmp_path / "cache")
    assert sorted((tmp_path / "cache").iterdir()) == made and len(made) == 1
    assert isinstance(again["train"].images, np.memmap)
    for name in first:
        np.testing.assert_array_equal(first[name].images, again[name].images)
    assert capsys.readouterr().err.count("bad.jpg") == 2  # named on every run
    Image.new("RGB", (20, 10)).save(tmp_path / "photos" / "b" / "3.png")
    load_splits(tmp_path / "photos", 8, 3, tmp_path / "cache")
    assert sorted((tmp_path / "cache").iterdir()) != made  # made again, the old one removed
    assert len(list((tmp_path / "cache").iterdir())) == 1


def test_settings_an_npz_does_not_have_are_refused(default_config):
    with pytest.raises(ValueError, match="image_size"):
        load_splits(default_config.data, image_size=32)
    with pytest.raises(ValueError, match="channels"):
        load_splits(default_config.data, channels=3)


def test_a_bomb_and_a_name_that_is_not_utf8_are_skipped_naming_them(tmp_path, capsys):
    folder = photo_classes(tmp_path / "photos")
    (folder / "a" / "bomb.png").write_bytes(png_bomb(13000, 13000))  # 169 Mpx in 20 KB
    odd = os.fsdecode(b"caf\xe9.png")  # Latin-1 bytes: not UTF-8
    Image.new("RGB", (20, 10)).save(folder / "b" / odd)
    splits = load_splits(folder, 8, 3, tmp_path / "cache")
    assert sum(len(split.labels) for split in splits.values()) == 6  # the six readable ones
    warnings = capsys.readouterr().err
    assert str(folder / "a" / "bomb.png") in warnings and repr(str(folder / "b" / odd)) in warnings


def test_a_class_folder_linking_to_another_is_skipped_naming_it(tmp_path, capsys):
    folder = photo_classes(tmp_path / "photos", ("a", "b", "c"))
    (folder / "copy-of-a").symlink_to(folder / "a", target_is_directory=True)
    splits = load_splits(folder, 8, 3)
    assert num_classes(splits) == 3
    assert str(folder / "copy-of-a") in capsys.readouterr().err


@pytest.mark.slow  # starts a training process
def test_training_on_a_folder_with_a_bomb_skips_it(tmp_path):
    folder = photo_classes(tmp_path / "photos")
    (folder / "b" / "bomb.webp").write_bytes(png_bomb(13000, 13000))  # any name Pillow reads
    command = [
        sys.executable,
        "-m",
        "{{ cookiecutter.package_name }}.train",
        "--config",
        "configs/smoke.yaml",
        "--set",
        f"data={folder}",
        "--set",
        f"run_dir={tmp_path / 'runs'}",
        "--dry-run",
    ]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert str(folder / "b" / "bomb.webp") in result.stderr
