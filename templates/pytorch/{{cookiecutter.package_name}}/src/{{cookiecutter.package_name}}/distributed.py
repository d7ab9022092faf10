"""Where and how training runs: one process, or one of several started by torchrun.

``python -m {{ cookiecutter.package_name }}.train`` is one process. ``torchrun --nproc_per_node=N -m
{{ cookiecutter.package_name }}.train`` starts N of them and sets RANK, LOCAL_RANK and WORLD_SIZE; each
then trains a DistributedDataParallel copy of the model on its own share of every batch
order, and only rank 0 prints and writes files.
"""

import contextlib
import math
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .data import Split, as_model_input, augment

PRECISIONS = ("float32", "bfloat16", "float16")
# An autocast context for the forward pass, and a gradient scaler (active for float16).
Precision = tuple[contextlib.AbstractContextManager, torch.amp.GradScaler]


@dataclass(frozen=True)
class Process:
    """This process's place among those training together."""

    device: torch.device
    rank: int = 0
    world_size: int = 1

    @property
    def main(self) -> bool:
        """Rank 0 prints, logs, checkpoints and writes metrics; the others only train."""
        return self.rank == 0

    def print(self, *values: object) -> None:
        if self.main:
            print(*values, flush=True)


def start(device_name: str) -> Process:
    """Join the processes torchrun started (gloo on CPUs, nccl on GPUs), or run alone."""
    device = choose_device(device_name)
    if "WORLD_SIZE" not in os.environ:
        return Process(device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Process(device, dist.get_rank(), dist.get_world_size())


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def choose_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": torch.backends.mps.is_available()}
    if not available.get(name.split(":")[0], False):
        raise ValueError(f"Device '{name}' is not available here; use 'auto' or 'cpu'.")
    return torch.device(name)


def wrap(model: nn.Module, process: Process, some_frozen: bool = False) -> nn.Module:
    """DistributedDataParallel averages the gradients across processes after each backward.

    ``some_frozen``: some weights get no gradient in some epochs (a frozen backbone), so DDP
    looks for them after each forward (``find_unused_parameters``) and leaves them out.
    """
    if process.world_size == 1:
        return model
    device_ids = [process.device.index] if process.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids,
                                   find_unused_parameters=some_frozen)


def total(values: list[float], process: Process) -> list[float]:
    """Sums of ``values`` over every process (the values themselves when alone)."""
    if process.world_size == 1:
        return values
    summed = torch.tensor(values, dtype=torch.float64, device=process.device)
    dist.all_reduce(summed)
    return summed.tolist()


def average(value: float, process: Process) -> float:
    """The mean of ``value`` over every process."""
    return total([value], process)[0] / process.world_size


def barrier(process: Process) -> None:
    """Wait until every process gets here (e.g. until rank 0 has written a checkpoint)."""
    if process.world_size > 1:
        dist.barrier()


def mixed_precision(precision: str, device: torch.device) -> Precision:
    """An autocast context for the forward pass and a gradient scaler (active for float16)."""
    if precision not in PRECISIONS:
        raise ValueError(f"Setting 'precision' must be one of {', '.join(PRECISIONS)}, "
                         f"got {precision!r}.")
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "float16")
    if precision == "float32":
        return contextlib.nullcontext(), scaler
    return torch.autocast(device.type, dtype=getattr(torch, precision)), scaler


class ShardedBatches:
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
