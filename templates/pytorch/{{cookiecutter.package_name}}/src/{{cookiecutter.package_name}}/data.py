"""The data as the model takes it. Reading your own images: see splits.py."""

import math

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .splits import (
    SPLITS,
    Split,
    augments,
    class_names,
    load_data,
    load_splits,
    num_classes,
    split_image_folder,
    trained_on,
)

__all__ = ["SPLITS", "ImageDataset", "Split", "as_model_input", "augment", "augments",
           "class_names", "load_data", "load_splits", "make_loader", "num_classes",
           "split_image_folder", "trained_on"]

# Random resized crop: the share of the image's area kept, and the crop's width/height ratio.
CROP_AREA = (0.6, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)
# Colour jitter: brightness and contrast are each scaled by a factor in 1 +- JITTER.
JITTER = 0.15


def as_model_input(images: np.ndarray) -> np.ndarray:
    """Raw uint8 (N, H, W, C) pixels as the model takes them: float32 (N, C, H, W), 0-255.

    Scaling to 0-1 happens inside the model, so every runtime takes raw pixels.
    """
    # Contiguous, so exporters see ordinary strides rather than a transposed view.
    return np.ascontiguousarray(np.asarray(images).transpose(0, 3, 1, 2), dtype=np.float32)


def augment(pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A batch (N, C, H, W) of raw pixels, each randomly cropped and resized back, flipped
    left-right half of the time, and its brightness and contrast changed a little."""
    count, device = len(pixels), pixels.device

    def uniform(low: float, high: float) -> torch.Tensor:
        return (low + (high - low) * torch.rand(count, generator=generator)).to(device)

    area = uniform(*CROP_AREA)
    ratio = torch.exp(uniform(math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])))
    width, height = (area * ratio).sqrt().clamp(max=1), (area / ratio).sqrt().clamp(max=1)
    flip = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0)
    theta = torch.zeros(count, 2, 3, device=device)
    theta[:, 0, 0], theta[:, 1, 1] = width * flip, height
    theta[:, 0, 2], theta[:, 1, 2] = (1 - width) * uniform(-1, 1), (1 - height) * uniform(-1, 1)
    grid = torch.nn.functional.affine_grid(theta, list(pixels.shape), align_corners=False)
    cropped = torch.nn.functional.grid_sample(pixels, grid, mode="bilinear",
                                              padding_mode="border", align_corners=False)
    mean = cropped.mean(dim=(1, 2, 3), keepdim=True)
    contrast = uniform(1 - JITTER, 1 + JITTER).view(-1, 1, 1, 1)
    brightness = uniform(1 - JITTER, 1 + JITTER).view(-1, 1, 1, 1)
    return (((cropped - mean) * contrast + mean) * brightness).clamp(0, 255)


class ImageDataset(Dataset):
    """A split as (pixels, label) pairs: float32 (C, H, W) raw pixels and an int64 label.

    Rows are read when asked for, so a split kept in a memory map stays on disk.
    """

    def __init__(self, split: Split) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        pixels = as_model_input(self.split.images[index:index + 1])[0]
        return torch.from_numpy(pixels), torch.tensor(self.split.labels[index])


def make_loader(split: Split, batch_size: int, shuffle: bool, seed: int,
                workers: int = 0) -> DataLoader:
    """A DataLoader whose shuffled order depends only on ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(ImageDataset(split), batch_size=batch_size, shuffle=shuffle,
                      generator=generator, num_workers=workers)
