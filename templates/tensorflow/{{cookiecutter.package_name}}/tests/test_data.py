import numpy as np

from {{ cookiecutter.package_name }}.data import as_model_input, load_splits, make_dataset


def test_shuffled_order_depends_only_on_the_seed(default_config):
    split = load_splits(default_config.data)["train"]

    def order(seed):
        return np.concatenate([labels.numpy() for _, labels in make_dataset(split, 64, True, seed)])

    assert (order(0) == order(0)).all()
    assert not (order(0) == order(1)).all()


def test_model_input_is_raw_pixels_with_a_channel_axis(default_config):
    pixels = as_model_input(load_splits(default_config.data)["test"].images)
    assert pixels.shape[1:] == (8, 8, 1) and pixels.dtype == np.float32
    assert pixels.min() >= 0 and 1 < pixels.max() <= 255
