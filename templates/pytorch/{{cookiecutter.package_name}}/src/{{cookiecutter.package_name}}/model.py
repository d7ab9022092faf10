"""The model: a small convolutional network for 8x8 grayscale digits, or a pretrained one.

MODELS is the one list of models: ``model`` in the config names one of them. To try your
own, write a builder (the number of classes, the image size, the channels and ``weights``,
the pretrained start) and add it to MODELS with what depends on it. Every model takes raw
pixels (0-255) as float32 (N, channels, H, W) through ``forward(pixels)`` and returns logits
(N, classes): the exporters name the input ``pixels`` and the output ``logits``.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .backbone import MobileNetClassifier

# The side photos are resized to when image_size is auto, unless a model asks for another:
# small, for a network that learns from scratch on two CPU cores (bench/RESULTS.md, "Photos").
PHOTO_SIZE = 48


class DigitsCNN(nn.Module):
    """Three 3x3 convolutions and a linear classifier.

    It takes raw pixels (0-255) as float32 (N, channels, H, W) and scales them itself,
    so the exported models need no preprocessing on any target.
    """

    def __init__(
        self, num_classes: int = 10, image_size: int = 8, width: int = 32, channels: int = 1
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        side = image_size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.25),
            nn.Linear(2 * width * side * side, num_classes),
        )

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Return class logits (N, num_classes) for raw pixels (N, channels, H, W)."""
        return self.classifier(self.features(pixels / 255.0))


def small_cnn(num_classes: int, image_size: int, channels: int, weights: str) -> nn.Module:
    """DigitsCNN, learnt from scratch (it has no pretrained ``weights``)."""
    return DigitsCNN(num_classes, image_size, channels=channels)


@dataclass(frozen=True)
class ModelSpec:
    """A model and what depends on it.

    ``photo_size``: the side photos are resized to when image_size is auto. ``tolerance``:
    how closely every exported file must match the model (max absolute logit difference).
    """

    build: Callable[[int, int, int, str], nn.Module]
    photo_size: int = PHOTO_SIZE
    tolerance: float = 1e-4


MODELS: dict[str, ModelSpec] = {
    "small_cnn": ModelSpec(small_cnn),
    # The size MobileNet learnt ImageNet at. Its fifty-odd layers add up more float32
    # rounding where a runtime orders its sums its own way.
    "mobilenet": ModelSpec(MobileNetClassifier, photo_size=224, tolerance=1e-3),
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
    name: str, num_classes: int, image_size: int, channels: int, weights: str = "none"
) -> nn.Module:
    """The config's ``model``, for these images and classes.

    Raises:
        ValueError: an unknown model, images too small for it, unusable weights, or a model
            whose forward does not take ``pixels``.
    """
    model = model_spec(name).build(num_classes, image_size, channels, weights)
    inputs = list(inspect.signature(model.forward).parameters)
    if inputs != ["pixels"]:
        raise ValueError(
            f"model {name!r}: its forward takes ({', '.join(inputs)}); the "
            "exporters call it with one argument named pixels: rename it to "
            "forward(self, pixels)."
        )
    return model
