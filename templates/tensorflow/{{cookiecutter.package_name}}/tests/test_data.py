import numpy as np
import tensorflow as tf

from {{ cookiecutter.package_name }}.data import (
    Split,
    as_model_input,
    augment,
    augmentation,
    load_splits,
    make_dataset,
)


def test_shuffled_order_depends_only_on_the_seed(default_config):
    split = load_splits(default_config.data)["train"]

    def order(seed):
        return np.concatenate([labels.numpy() for _, labels in make_dataset(split, 64, True, seed)])

    assert (order(0) == order(0)).all()
    assert not (order(0) == order(1)).all()


def test_a_split_on_disk_gives_the_batches_it_gives_in_memory(default_config, tmp_path):
    """A photo folder's cache (a memory map) is read per batch, the digits are in memory;
    for the same seed both give the same images in each batch (within it, in any order)."""
    split = load_splits(default_config.data)["train"]
    np.save(tmp_path / "images.npy", split.images)
    on_disk = Split(np.load(tmp_path / "images.npy", mmap_mode="r"), split.labels)
    assert isinstance(on_disk.images, np.memmap)

    def batches(source):
        dataset = make_dataset(source, 64, shuffle=True, seed=3)
        return [sorted(map(bytes, pixels.numpy())) for pixels, _ in dataset]

    assert batches(on_disk) == batches(split)


class CountedReads(np.ndarray):
    """An array that counts how often rows are read from it."""

    reads = 0

    def __getitem__(self, key):
        CountedReads.reads += 1
        return super().__getitem__(key)


def test_a_split_in_memory_goes_into_the_pipeline_once_not_per_batch(default_config):
    split = load_splits(default_config.data)["train"]
    counted = Split(split.images.view(CountedReads), split.labels)
    dataset = make_dataset(counted, 64, True, 0)
    CountedReads.reads = 0
    assert sum(len(labels) for _, labels in dataset) == len(split)
    assert CountedReads.reads == 0


def test_model_input_is_raw_pixels_with_a_channel_axis(default_config):
    pixels = as_model_input(load_splits(default_config.data)["test"].images)
    assert pixels.shape[1:] == (8, 8, 1) and pixels.dtype == np.float32
    assert pixels.min() >= 0 and 1 < pixels.max() <= 255


def test_augmentation_changes_images_within_the_pixel_range():
    pixels = np.random.default_rng(0).uniform(0, 255, (16, 24, 24, 3)).astype(np.float32)
    changed = augment(tf.constant(pixels), augmentation()).numpy()
    assert changed.shape == pixels.shape
    assert changed.min() >= 0 and changed.max() <= 255
    assert not np.allclose(changed, pixels)


def test_a_pipeline_gives_the_images_as_they_are(default_config):
    """Augmentation happens in the train step, on the device: never in the data."""
    split = load_splits(default_config.data)["test"]
    plain = next(iter(make_dataset(split, 8, False, 0)))[0].numpy()
    np.testing.assert_array_equal(plain, as_model_input(split.images[:8]))
