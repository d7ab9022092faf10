import keras
import numpy as np
import pytest

from {{ cookiecutter.package_name }} import model as models
from {{ cookiecutter.package_name }}.model import MODELS, ModelSpec, build_model


def renamed_input(classes: int, *_: object) -> keras.Model:
    images = keras.Input((8, 8, 1), name="images")
    return keras.Model(
        images, keras.layers.Dense(classes, name="logits")(keras.layers.Flatten()(images))
    )


def renamed_output(classes: int, *_: object) -> keras.Model:
    pixels = keras.Input((8, 8, 1), name="pixels")
    return keras.Model(
        pixels, keras.layers.Dense(classes, name="scores")(keras.layers.Flatten()(pixels))
    )


def test_the_configs_model_takes_pixels_and_returns_one_logit_per_class(default_config):
    model = build_model(default_config.model, 7, 8, 1)
    assert model(np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 1))).shape == (2, 7)


@pytest.mark.parametrize(
    ("builder", "name"), [(renamed_input, "pixels"), (renamed_output, "logits")]
)
def test_a_model_that_breaks_the_exporters_contract_is_refused(monkeypatch, builder, name):
    monkeypatch.setitem(MODELS, "renamed", ModelSpec(builder))
    with pytest.raises(ValueError, match=name):
        build_model("renamed", 10, 8, 1)


def test_an_unknown_model_is_refused():
    with pytest.raises(ValueError, match="resnet"):
        models.model_spec("resnet")
