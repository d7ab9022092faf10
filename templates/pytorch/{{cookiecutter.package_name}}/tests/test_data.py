import torch

from {{ cookiecutter.package_name }}.data import (
    Batches,
    augment,
    augmentation,
    load_splits,
)
from {{ cookiecutter.package_name }}.distributed import Process

ALONE = Process(torch.device("cpu"))


def test_shuffled_order_depends_only_on_the_seed(default_config):
    split = load_splits(default_config.data)["train"]
    first = [labels for _, labels in Batches(split, 64, True, 0, ALONE)]
    again = [labels for _, labels in Batches(split, 64, True, 0, ALONE)]
    other = [labels for _, labels in Batches(split, 64, True, 1, ALONE)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_batches_hold_raw_pixels_with_a_channel_axis(default_config):
    pixels, labels = next(
        iter(Batches(load_splits(default_config.data)["test"], 4, False, 0, ALONE))
    )
    assert pixels.shape == (4, 1, 8, 8) and pixels.dtype == torch.float32
    assert pixels.min() >= 0 and 1 < pixels.max() <= 255
    assert labels.dtype == torch.int64


def test_augmentation_changes_images_within_the_pixel_range_as_the_seed_says():
    pixels = torch.rand(16, 3, 24, 24, generator=torch.Generator().manual_seed(0)) * 255
    transforms = augmentation(24)
    changed = augment(pixels, transforms, seed=1)
    assert changed.shape == pixels.shape and torch.equal(changed, augment(pixels, transforms, 1))
    assert changed.min() >= 0 and changed.max() <= 255
    assert not torch.allclose(changed, pixels)


def test_only_training_batches_are_augmented_the_same_way_each_time(default_config):
    """A resumed run sees the batches the interrupted one would have seen."""
    split = load_splits(default_config.data)["train"]

    def first_batch(augment: bool, epoch: int) -> torch.Tensor:
        batches = Batches(split, 8, True, 0, ALONE, augment=augment)
        batches.set_epoch(epoch)
        return next(iter(batches))[0]

    assert torch.equal(first_batch(True, 1), first_batch(True, 1))
    assert not torch.equal(first_batch(True, 1), first_batch(False, 1))
