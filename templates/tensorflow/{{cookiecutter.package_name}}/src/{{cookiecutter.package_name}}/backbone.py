"""A pretrained MobileNetV3-Small with a new classifier head: model: mobilenet in the config.

The network is Keras' own (keras.applications.MobileNetV3Small, the minimalistic variant),
built with its preprocessing inside, so it takes raw 0-255 pixels like the small CNN.
Weights (config ``weights``):
  imagenet   Keras' ImageNet weights without the top, downloaded on first use from
             WEIGHTS_URL into ~/.keras/models (about 4 MB);
  none       random weights (training from scratch);
  PATH       a local weights file: that download (an .h5 file), or a .weights.h5 file
             saved from this network with backbone.save_weights.
"""

import warnings
from collections.abc import Callable
from pathlib import Path

from .quiet import keras

# Where Keras downloads the ImageNet weights from (the folder of its download URL).
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
# Five stride-2 stages: Keras refuses images smaller than this.
MIN_IMAGE_SIZE = 32
# The backbone's layer name in the model: the part frozen during the first head_epochs.
BACKBONE = "backbone"


def build_mobilenet(
    num_classes: int, image_size: int, channels: int, weights: str = "none"
) -> keras.Model:
    """MobileNetV3-Small's features, average-pooled, then a new linear layer for these classes.

    It takes raw pixels (0-255) as float32 (N, H, W, C) named ``pixels``, C = 1 or 3;
    grey images are given to the backbone as three equal colour planes.

    Raises:
        ValueError: the images are too small, or the weights are unusable.
    """
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(
            f"model: mobilenet needs images of at least {MIN_IMAGE_SIZE}x"
            f"{MIN_IMAGE_SIZE} pixels, and these are {image_size}x{image_size}: "
            f"use a photo folder with image_size: {MIN_IMAGE_SIZE} or more, or "
            "model: small_cnn."
        )
    pixels = keras.Input((image_size, image_size, channels), name="pixels")
    x = keras.layers.Concatenate()([pixels] * 3) if channels == 1 else pixels
    x = load_backbone(image_size, weights)(x)
    x = keras.layers.Dropout(0.2)(x)
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(pixels, logits, name="mobilenet")


def load_backbone(image_size: int, weights: str) -> keras.Model:
    """MobileNetV3-Small without its classifier, with the weights the config names.

    Raises:
        ValueError: the weights cannot be downloaded, or the weights file is unusable.
    """
    if weights not in ("imagenet", "none") and not Path(weights).is_file():
        raise ValueError(
            f"weights: {weights} does not exist. Give a Keras weights file "
            "(.h5 or .weights.h5), imagenet or none."
        )
    try:
        with warnings.catch_warnings():
            # Keras warns, layer by layer, of weights a file lacks and keeps the random ones:
            # here a file that does not fit the network is an error.
            warnings.filterwarnings("error", "Skipping nested container", UserWarning)
            return keras.applications.MobileNetV3Small(
                input_shape=(image_size, image_size, 3),
                include_top=False,
                pooling="avg",
                include_preprocessing=True,
                minimalistic=True,
                weights=None if weights == "none" else weights,
                name=BACKBONE,
            )
    except (ValueError, OSError, UserWarning) as error:  # other weights, or not weights
        raise ValueError(
            f"weights: {weights} does not hold MobileNetV3-Small's weights "
            f"({str(error).splitlines()[0]})."
        ) from None
    except Exception as error:  # Keras' download raises a bare Exception when offline
        if weights != "imagenet" or "URL fetch failure" not in str(error):
            raise
        raise ValueError(
            f"weights: imagenet downloads MobileNetV3-Small's weights from "
            f"{WEIGHTS_URL}, which failed ({error}). Download the file on a "
            "connected machine and set weights: to its path."
        ) from None


def backbone_of(model: keras.Model) -> keras.Layer | None:
    """The pretrained part of ``model`` (frozen for the first head_epochs), if it has one."""
    return next((layer for layer in model.layers if layer.name == BACKBONE), None)


def phased(
    model: keras.Model,
    head_epochs: int,
    make_step: Callable[[], Callable],
    say: Callable[[str], None],
) -> Callable[[int], Callable]:
    """The train step of each epoch. A pretrained backbone is frozen for the first head_epochs
    (only the new head learns; a frozen BatchNorm runs in inference mode, as Keras'
    transfer-learning guide wants), then fine-tuned with it: each phase traces its own step
    (``make_step``) for its trainable weights. The phase follows the epoch alone, so a resumed
    run goes on in the phase it stopped in."""
    backbone = backbone_of(model)
    steps: dict[bool, Callable] = {}

    def for_epoch(epoch: int) -> Callable:
        frozen = backbone is not None and epoch <= head_epochs
        if backbone is not None:
            backbone.trainable = not frozen
        if frozen not in steps:
            steps[frozen] = make_step()
            if backbone is not None:
                say(phase_message(epoch, frozen, head_epochs))
        return steps[frozen]

    return for_epoch


def phase_message(epoch: int, frozen: bool, head_epochs: int) -> str:
    if frozen:
        return (
            f"epoch {epoch}: backbone frozen, only the new head trains (head_epochs: {head_epochs})"
        )
    return f"epoch {epoch}: fine-tuning the backbone too, at a lower learning rate"
