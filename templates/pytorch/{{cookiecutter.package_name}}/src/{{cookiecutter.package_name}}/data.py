"""The data as the model takes it: batches, and the augmentation of training images.

Reading your own images: see splits.py.
"""

import math

import kornia.augmentation
import numpy as np
import torch
from torch import nn

from .distributed import Process
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

__all__ = [
    "SPLITS",
    "Batches",
    "Split",
    "as_model_input",
    "augment",
    "augmentation",
    "augments",
    "class_names",
    "load_data",
    "load_splits",
    "num_classes",
    "split_image_folder",
    "trained_on",
]


def as_model_input(images: np.ndarray) -> np.ndarray:
    """Raw uint8 (N, H, W, C) pixels as the model takes them: float32 (N, C, H, W), 0-255.

    Scaling to 0-1 happens inside the model, so every runtime takes raw pixels.
    """
    # Contiguous, so exporters see ordinary strides rather than a transposed view.
    return np.ascontiguousarray(np.asarray(images).transpose(0, 3, 1, 2), dtype=np.float32)


def augmentation(side: int) -> nn.Module:
    """The transforms of training images, in order (kornia's, on 0-1 pixels): edit this list to
    change the augmentation. Built when a training run asks for it (``augment`` setting)."""
    return kornia.augmentation.AugmentationSequential(
        kornia.augmentation.RandomResizedCrop((side, side), scale=(0.6, 1.0), ratio=(3 / 4, 4 / 3)),
        kornia.augmentation.RandomHorizontalFlip(),
        kornia.augmentation.ColorJitter(brightness=0.15, contrast=0.15),
    )


def augment(pixels: torch.Tensor, transforms: nn.Module, seed: int) -> torch.Tensor:
    """A batch (N, C, H, W) of raw pixels through ``transforms``, as random as ``seed`` says."""
    with torch.random.fork_rng(devices=[]):  # kornia draws its parameters on the CPU
        torch.manual_seed(seed)
        return (transforms(pixels / 255.0) * 255.0).clamp(0, 255)


class Batches:
    """This process's share of a split, read batch by batch (augmented, if asked).

    Each batch is one indexing operation, with no per-sample DataLoader work. A split held in
    memory (the digits, like many first datasets) is copied to the device once; a photo
    folder's cache stays on disk, and its rows are read only when their batch comes, so a
    folder larger than memory trains too. The order (and the augmentation) depends only on the
    seed and the epoch, so a resumed run sees the same batches, and ``set_epoch(epoch, skip)``
    goes on after the ``skip`` batches an interrupted run took.
    """

    def __init__(
        self,
        split: Split,
        batch_size: int,
        shuffle: bool,
        seed: int,
        process: Process,
        augment: bool = False,
    ) -> None:
        self.split = split
        # Training batches only; built here, when used (a photo folder's size is known).
        self.transforms = augmentation(split.images.shape[1]) if augment else None
        self.labels = torch.from_numpy(split.labels)
        self.batch_size, self.shuffle, self.seed, self.process = batch_size, shuffle, seed, process
        self.epoch, self.skip = 0, 0
        on_disk = isinstance(split.images, np.memmap)
        self.on_device = (
            None
            if on_disk
            else self._to_device(torch.from_numpy(as_model_input(split.images)), self.labels)
        )

    def _to_device(
        self, pixels: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        device = self.process.device
        pinned = device.type == "cuda"
        if pinned:
            pixels, labels = pixels.pin_memory(), labels.pin_memory()
        return pixels.to(device, non_blocking=pinned), labels.to(device, non_blocking=pinned)

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def _indices(self) -> torch.Tensor:
        count, world = len(self.labels), self.process.world_size
        if not self.shuffle:
            return torch.arange(count)[self.process.rank :: world]
        generator = torch.Generator().manual_seed(self.seed * 10_000 + self.epoch)
        # The same number of samples on every rank, so that they take the same steps, and never
        # a last batch of one image: BatchNorm (the backbone's) cannot normalise it in training.
        share = count // world
        share -= 1 if share % self.batch_size == 1 and share > 1 else 0
        order = torch.randperm(count, generator=generator)[: share * world]
        return order[self.process.rank :: world]

    def __len__(self) -> int:
        return math.ceil(len(self._indices()) / self.batch_size) - self.skip

    def __iter__(self):
        indices = self._indices()
        for first in range(self.skip * self.batch_size, len(indices), self.batch_size):
            pixels, labels = self._batch(indices[first : first + self.batch_size])
            if self.transforms is not None:  # as random as the seed, epoch and batch say
                seed = (self.seed * 10_000 + self.epoch) * 100_000 + first
                pixels = augment(pixels, self.transforms, seed)
            yield pixels, labels

    def _batch(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.on_device is not None:
            pixels, labels = self.on_device
            batch = batch.to(pixels.device)
            return pixels[batch], labels[batch]
        rows = np.sort(batch.numpy())  # in file order: the cache is read front to back
        return self._to_device(
            torch.from_numpy(as_model_input(self.split.images[rows])), self.labels[rows]
        )
