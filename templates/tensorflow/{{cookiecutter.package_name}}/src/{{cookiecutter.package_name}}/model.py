"""The model: a small convolutional network for 8x8 grayscale digits, or a pretrained one.

``model`` in the config names one of MODELS; each builder takes the number of classes, the
image size, the channels and ``weights`` (the pretrained start; the small CNN has none).
"""

from collections.abc import Callable

from .backbone import build_mobilenet
from .quiet import keras


def build_small_cnn(num_classes: int = 10, image_size: int = 8, channels: int = 1,
                    weights: str = "none", width: int = 32) -> keras.Model:
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


MODELS: dict[str, Callable[..., keras.Model]] = {
    "small_cnn": build_small_cnn,
    "mobilenet": build_mobilenet,
}


def build_model(name: str = "small_cnn", num_classes: int = 10, image_size: int = 8,
                channels: int = 1, weights: str = "none") -> keras.Model:
    """The config's ``model``, for these images and classes.

    Raises:
        ValueError: the images are too small for the model, or its weights are unusable.
    """
    return MODELS[name](num_classes, image_size, channels, weights)
