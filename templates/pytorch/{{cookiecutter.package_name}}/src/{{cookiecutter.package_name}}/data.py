"""The data as the model takes it. Reading your own images: see splits.py."""

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .splits import SPLITS, Split, class_names, load_splits, num_classes, split_image_folder

__all__ = ["SPLITS", "ImageDataset", "Split", "as_model_input", "class_names", "load_splits",
           "make_loader", "num_classes", "split_image_folder"]


def as_model_input(images: np.ndarray) -> np.ndarray:
    """Raw uint8 (N, H, W) pixels as the model takes them: float32 (N, 1, H, W), 0-255.

    Scaling to 0-1 happens inside the model, so every runtime takes raw pixels.
    """
    # Contiguous, so exporters see ordinary strides rather than a broadcast channel axis.
    return np.ascontiguousarray(images[:, None, :, :], dtype=np.float32)


class ImageDataset(Dataset):
    """A split as (pixels, label) pairs: float32 (1, H, W) raw pixels and an int64 label."""

    def __init__(self, split: Split) -> None:
        self.pixels = torch.from_numpy(as_model_input(split.images))
        self.labels = torch.from_numpy(split.labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pixels[index], self.labels[index]


def make_loader(split: Split, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    """A DataLoader whose shuffled order depends only on ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(ImageDataset(split), batch_size=batch_size, shuffle=shuffle,
                      generator=generator)
