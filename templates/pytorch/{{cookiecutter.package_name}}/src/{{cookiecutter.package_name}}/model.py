"""The model: a small convolutional network for 8x8 grayscale digits, or a pretrained one.

``model`` in the config names one of MODELS; each builder takes the number of classes, the
image size, the channels and ``weights`` (the pretrained start; the small CNN has none).
"""

from collections.abc import Callable

import torch
from torch import nn

from .backbone import MobileNetClassifier


class DigitsCNN(nn.Module):
    """Three 3x3 convolutions and a linear classifier.

    It takes raw pixels (0-255) as float32 (N, channels, H, W) and scales them itself,
    so the exported models need no preprocessing on any target.
    """

    def __init__(self, num_classes: int = 10, image_size: int = 8, width: int = 32,
                 channels: int = 1) -> None:
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


MODELS: dict[str, Callable[[int, int, int, str], nn.Module]] = {
    "small_cnn": small_cnn,
    "mobilenet": MobileNetClassifier,
}


def build_model(name: str, num_classes: int, image_size: int, channels: int,
                weights: str = "none") -> nn.Module:
    """The config's ``model``, for these images and classes.

    Raises:
        ValueError: the images are too small for the model, or its weights are unusable.
    """
    return MODELS[name](num_classes, image_size, channels, weights)
