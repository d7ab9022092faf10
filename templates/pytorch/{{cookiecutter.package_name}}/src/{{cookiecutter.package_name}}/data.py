"""The data: images and labels split into train, validation and test.

To train on your own images, write an .npz with the same six arrays
(x_train, y_train, x_val, y_val, x_test, y_test; images as uint8 (N, H, W),
labels as integers 0..classes-1) and point ``data`` in configs/default.yaml at it.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """One split: ``images`` as uint8 (N, H, W) raw pixels, ``labels`` as int64 (N,)."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def load_splits(path: str | Path) -> dict[str, Split]:
    """Read the train, validation and test splits from an .npz file.

    Raises:
        ValueError: when the file is missing or lacks an array, or shapes disagree.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"Data file {path} does not exist (set 'data' in the config).")
    with np.load(path) as arrays:
        missing = [f"{kind}_{split}" for split in SPLITS for kind in "xy"]
        missing = [key for key in missing if key not in arrays.files]
        if missing:
            raise ValueError(f"{path} lacks the array(s) {', '.join(missing)}.")
        splits = {
            split: Split(arrays[f"x_{split}"].astype(np.uint8),
                         arrays[f"y_{split}"].astype(np.int64))
            for split in SPLITS
        }
    for name, split in splits.items():
        if split.images.ndim != 3 or len(split.images) != len(split.labels):
            raise ValueError(
                f"{path}: x_{name} must be (N, H, W) with one label per image, "
                f"got {split.images.shape} and {split.labels.shape}."
            )
    return splits


def num_classes(splits: dict[str, Split]) -> int:
    """The number of classes: one more than the largest label seen."""
    return int(max(split.labels.max() for split in splits.values())) + 1


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
