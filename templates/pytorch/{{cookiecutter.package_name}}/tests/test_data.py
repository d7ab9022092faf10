import torch

from {{ cookiecutter.package_name }}.data import ImageDataset, augment, load_splits, make_loader


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


def test_augmentation_changes_each_image_within_the_pixel_range():
    pixels = torch.rand(16, 3, 24, 24, generator=torch.Generator().manual_seed(0)) * 255
    changed = augment(pixels, torch.Generator().manual_seed(1))
    again = augment(pixels, torch.Generator().manual_seed(1))
    assert changed.shape == pixels.shape and torch.equal(changed, again)
    assert changed.min() >= 0 and changed.max() <= 255
    assert all(not torch.allclose(a, b) for a, b in zip(changed, pixels, strict=True))


def test_a_crop_of_the_whole_image_is_the_image_or_its_mirror(monkeypatch):
    from {{ cookiecutter.package_name }} import data

    for name, value in (("CROP_AREA", (1, 1)), ("CROP_RATIO", (1, 1)), ("JITTER", 0)):
        monkeypatch.setattr(data, name, value)
    pixels = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4)
    rows = {tuple(augment(pixels, torch.Generator().manual_seed(seed))[0, 0, 0].tolist())
            for seed in range(8)}
    assert rows == {(0.0, 1.0, 2.0, 3.0), (3.0, 2.0, 1.0, 0.0)}
