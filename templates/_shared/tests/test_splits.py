"""Reading the data: the fixed split of the sample digits, your own .npz or image folder."""

import numpy as np
import pytest
from PIL import Image

from {{ cookiecutter.package_name }}.splits import load_splits, num_classes


def test_splits_have_the_documented_shapes(default_config):
    splits = load_splits(default_config.data)
    sizes = {name: len(split) for name, split in splits.items()}
    assert sizes == {"train": 1257, "val": 270, "test": 270}
    assert splits["train"].images.dtype == np.uint8
    assert splits["train"].images.shape[1:] == (8, 8)
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


def test_an_image_folder_splits_like_the_npz(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        for index in range(10):
            pixels = rng.integers(0, 256, (12, 12), dtype=np.uint8)
            Image.fromarray(pixels).convert("RGB").save(tmp_path / name / f"{index}.png")
    splits = load_splits(tmp_path)
    sizes = {name: len(split) for name, split in splits.items()}
    assert sizes == {"train": 14, "val": 3, "test": 3}
    assert splits["train"].images.shape[1:] == (12, 12)
    assert num_classes(splits) == 2
    again = load_splits(tmp_path)
    assert (again["test"].labels == splits["test"].labels).all()


def test_an_image_of_another_size_is_named(tmp_path):
    for index, side in enumerate([8] * 9 + [9]):
        folder = tmp_path / ("a" if index < 5 else "b")
        folder.mkdir(exist_ok=True)
        Image.fromarray(np.zeros((side, side), np.uint8)).save(folder / f"{index}.png")
    with pytest.raises(ValueError, match="9.png is"):
        load_splits(tmp_path)
