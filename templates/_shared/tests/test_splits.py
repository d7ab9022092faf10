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
