"""The model: a small convolutional network for 8x8 grayscale digits."""

import keras


def build_model(num_classes: int = 10, image_size: int = 8, width: int = 32,
                channels: int = 1) -> keras.Model:
    """Three 3x3 convolutions and a linear classifier.

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
