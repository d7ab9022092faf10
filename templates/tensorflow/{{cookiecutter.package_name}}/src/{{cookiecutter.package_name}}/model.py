"""The model: a small convolutional network for 8x8 grayscale digits, or a pretrained one.

MODELS is the one list of models: ``model`` in the config names one of them. To try your
own, write a builder (the number of classes, the image size, the channels and ``weights``,
the pretrained start) and add it to MODELS with what depends on it. Every model takes raw
pixels (0-255) as float32 (N, H, W, channels) through an input named ``pixels`` and ends in
a layer named ``logits`` (N, classes): the exporters look for both names.
"""

from collections.abc import Callable
from dataclasses import dataclass

from .backbone import build_mobilenet
from .quiet import keras

# The side photos are resized to when image_size is auto, unless a model asks for another:
# small, for a network that learns from scratch on two CPU cores (bench/RESULTS.md, "Photos").
PHOTO_SIZE = 48


def build_small_cnn(
    num_classes: int = 10,
    image_size: int = 8,
    channels: int = 1,
    weights: str = "none",
    width: int = 32,
) -> keras.Model:
    """Three 3x3 convolutions and a linear classifier, learnt from scratch (no ``weights``).

    It takes raw pixels (0-255) as float32 (N, H, W, channels) named ``pixels`` and scales
    them itself, so the exported models need no preprocessing on any target.
    """
    pixels = keras.Input((image_size, image_size, channels), name="pixels")
    x = keras.layers.Rescaling(1 / 255)(pixels)
    x = keras.layers.Conv2D(width, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(2 * width, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(2 * width, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.25)(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(pixels, logits, name="digits_cnn")


@dataclass(frozen=True)
class ModelSpec:
    """A model and what depends on it.

    ``photo_size``: the side photos are resized to when image_size is auto. ``tolerance``:
    how closely every exported file must match the model (max absolute logit difference).
    """

    build: Callable[[int, int, int, str], keras.Model]
    photo_size: int = PHOTO_SIZE
    tolerance: float = 1e-4


MODELS: dict[str, ModelSpec] = {
    "small_cnn": ModelSpec(build_small_cnn),
    # The size MobileNet learnt ImageNet at. Its fifty-odd layers add up more float32
    # rounding where a runtime orders its sums its own way.
    "mobilenet": ModelSpec(build_mobilenet, photo_size=224, tolerance=1e-3),
}


def model_spec(name: str) -> ModelSpec:
    """The entry of MODELS that ``name`` names.

    Raises:
        ValueError: no model has that name.
    """
    if name not in MODELS:
        raise ValueError(
            f"Unknown model {name!r}; choose one of MODELS in model.py "
            f"({', '.join(MODELS)}), or add yours there."
        )
    return MODELS[name]


def build_model(
    name: str = "small_cnn",
    num_classes: int = 10,
    image_size: int = 8,
    channels: int = 1,
    weights: str = "none",
) -> keras.Model:
    """The config's ``model``, for these images and classes.

    Raises:
        ValueError: an unknown model, images too small for it, unusable weights, or a model
            whose input is not named ``pixels`` or whose last layer is not named ``logits``.
    """
    model = model_spec(name).build(num_classes, image_size, channels, weights)
    inputs = [tensor.name for tensor in model.inputs]
    if inputs != ["pixels"]:
        raise ValueError(
            f"model {name!r}: its input(s) are named {', '.join(inputs)}; the "
            "exporters feed one input named pixels: rename it with "
            'keras.Input(..., name="pixels").'
        )
    if model.layers[-1].name != "logits":
        raise ValueError(
            f"model {name!r}: its last layer is named {model.layers[-1].name!r}; "
            "the exporters read the output of a layer named logits: name it "
            'so, e.g. keras.layers.Dense(classes, name="logits").'
        )
    return model
