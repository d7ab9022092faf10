import torch

from {{ cookiecutter.package_name }}.data import ImageDataset, load_splits, make_loader


def test_shuffled_order_depends_only_on_the_seed(default_config):
    split = load_splits(default_config.data)["train"]
    first = [labels for _, labels in make_loader(split, 64, shuffle=True, seed=0)]
    again = [labels for _, labels in make_loader(split, 64, shuffle=True, seed=0)]
    other = [labels for _, labels in make_loader(split, 64, shuffle=True, seed=1)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_dataset_yields_raw_pixels_with_a_channel_axis(default_config):
    pixels, label = ImageDataset(load_splits(default_config.data)["test"])[0]
    assert pixels.shape == (1, 8, 8) and pixels.dtype == torch.float32
    assert pixels.min() >= 0 and 1 < pixels.max() <= 255
    assert label.dtype == torch.int64
