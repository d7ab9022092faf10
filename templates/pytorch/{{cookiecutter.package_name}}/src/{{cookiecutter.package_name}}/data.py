"""The data as the model takes it. Reading your own images: see splits.py."""

import math

import numpy as np
import torch

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

__all__ = ["SPLITS", "Batches", "Split", "as_model_input", "augment", "augments",
           "class_names", "load_data", "load_splits", "num_classes", "split_image_folder",
           "trained_on"]

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


class Batches:
    """This process's share of a split, read batch by batch (augmented, if asked).

    Each batch is one indexing operation, with no per-sample DataLoader work. A split held in
    memory (the digits, like many first datasets) is copied to the device once; a photo
    folder's cache stays on disk, and its rows are read only when their batch comes, so a
    folder larger than memory trains too. The order (and the augmentation) depends only on the
    seed and the epoch, so a resumed run sees the same batches, and ``set_epoch(epoch, skip)``
    goes on after the ``skip`` batches an interrupted run took.
    """

    def __init__(self, split: Split, batch_size: int, shuffle: bool, seed: int,
                 process: Process, augment: bool = False) -> None:
        self.split, self.augment = split, augment
        self.labels = torch.from_numpy(split.labels)
        self.batch_size, self.shuffle, self.seed, self.process = batch_size, shuffle, seed, process
        self.epoch, self.skip = 0, 0
        on_disk = isinstance(split.images, np.memmap)
        self.on_device = None if on_disk else self._to_device(
            torch.from_numpy(as_model_input(split.images)), self.labels)

    def _to_device(self, pixels: torch.Tensor,
                   labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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
            return torch.arange(count)[self.process.rank::world]
        generator = torch.Generator().manual_seed(self.seed * 10_000 + self.epoch)
        # The same number of samples on every rank, so that they take the same steps, and never
        # a last batch of one image: BatchNorm (the backbone's) cannot normalise it in training.
        share = count // world
        share -= 1 if share % self.batch_size == 1 and share > 1 else 0
        order = torch.randperm(count, generator=generator)[: share * world]
        return order[self.process.rank::world]

    def __len__(self) -> int:
        return math.ceil(len(self._indices()) / self.batch_size) - self.skip

    def __iter__(self):
        indices = self._indices()
        generator = torch.Generator().manual_seed(self.seed * 10_000 + self.epoch + 1)
        for first in range(self.skip * self.batch_size, len(indices), self.batch_size):
            pixels, labels = self._batch(indices[first:first + self.batch_size])
            yield (augment(pixels, generator) if self.augment else pixels), labels

    def _batch(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.on_device is not None:
            pixels, labels = self.on_device
            batch = batch.to(pixels.device)
            return pixels[batch], labels[batch]
        rows = np.sort(batch.numpy())  # in file order: the cache is read front to back
        return self._to_device(torch.from_numpy(as_model_input(self.split.images[rows])),
                               self.labels[rows])
