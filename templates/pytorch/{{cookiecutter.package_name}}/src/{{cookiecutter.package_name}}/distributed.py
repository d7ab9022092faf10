"""Where and how training runs: one process, or one of several started by torchrun.

``python -m {{ cookiecutter.package_name }}.train`` is one process;
``torchrun --nproc_per_node=N -m {{ cookiecutter.package_name }}.train``
starts N of them and sets RANK, LOCAL_RANK and WORLD_SIZE; each then trains a
DistributedDataParallel copy of the model on its own share of every batch order, and only
rank 0 prints and writes files.

``python -m {{ cookiecutter.package_name }}.distributed`` takes torchrun's arguments,
runs torchrun and exits with the status a launcher can act on: torchrun exits 1 whether its
workers failed or a stop signal made them save and stop; this exits with the stopped workers'
status instead (143 for SIGTERM, 138 for SIGUSR1), which SLURM, Kubernetes and SkyPilot
restart on.
"""

import os
import sys
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class Process:
    """This process's place among those training together."""

    device: torch.device
    rank: int = 0
    world_size: int = 1
    cpu_group: Any = None  # gloo, for numbers on the CPU (the default group, or beside nccl)

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
    cpu_group = dist.new_group(backend="gloo") if device.type == "cuda" else None
    return Process(device, dist.get_rank(), dist.get_world_size(), cpu_group)


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
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }
    if not available.get(name.split(":")[0], False):
        raise ValueError(f"Device '{name}' is not available here; use 'auto' or 'cpu'.")
    return torch.device(name)


def set_threads(threads: int) -> int:
    """0 uses every core, fastest on a machine of one's own (1.5x one thread, measured on 2
    cores). Where other work keeps the cores busy, 1 is safer: threads that wait for a core
    made batch-4 latency 20x worse on a shared 2-core machine."""
    count = threads or os.cpu_count() or 1
    torch.set_num_threads(count)
    return count


def wrap(model: nn.Module, process: Process, some_frozen: bool = False) -> nn.Module:
    """DistributedDataParallel averages the gradients across processes after each backward.

    ``some_frozen``: some weights get no gradient in some epochs (a frozen backbone), so DDP
    looks for them after each forward (``find_unused_parameters``) and leaves them out.
    """
    if process.world_size == 1:
        return model
    device_ids = [process.device.index] if process.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=some_frozen)


def total(values: torch.Tensor, process: Process | None = None) -> list[float]:
    """Sums of ``values`` (float64) over every process, or the values themselves when alone;
    read from the device once."""
    if process is not None and process.world_size > 1:
        values = values.to(process.device)
        dist.all_reduce(values)
    return values.tolist()


def average(value: float, process: Process) -> float:
    """The mean of ``value`` over every process."""
    return total(torch.tensor([value], dtype=torch.float64), process)[0] / process.world_size


# Steps between the processes' agreements on a stop signal: one all_reduce of a number on the
# CPU (no wait for the device), so that every process stops after the same step.
STOP_CHECK_EVERY = 10


def stop_check_every(process: Process) -> int:
    """A process alone stops after the very step the signal came in."""
    return 1 if process.world_size == 1 else STOP_CHECK_EVERY


def agree(number: int, process: Process) -> int:
    """The stop signal any process got (its number; 0: none), the same in every process."""
    if process.world_size == 1:
        return number
    flag = torch.tensor([number], dtype=torch.int32)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=process.cpu_group)
    return int(flag[0])


def gather(values: list, process: Process | None = None) -> list[list[float]]:
    """``values`` (numbers, or tensors of one number) of every process, by rank. It reads
    them from the device: for a checkpoint, never at every step."""
    mine = torch.tensor([float(value) for value in values], dtype=torch.float64)
    if process is None or process.world_size == 1:
        return [mine.tolist()]
    everyone = [torch.zeros_like(mine) for _ in range(process.world_size)]
    dist.all_gather(everyone, mine, group=process.cpu_group)
    return [each.tolist() for each in everyone]


def barrier(process: Process) -> None:
    """Wait until every process gets here (e.g. until rank 0 has written a checkpoint)."""
    if process.world_size > 1:
        dist.barrier()


def main(argv: list[str] | None = None) -> int:
    """torchrun (same arguments), passing on a stopped run's exit status (128 + the signal's
    number); a failure's status is the first failed worker's."""
    from torch.distributed import run
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    try:
        run.main(argv)
    except SignalException as signalled:  # torchrun was told to stop; its workers have saved
        return 128 + signalled.sigval
    except ChildFailedError as failed:  # e.g. a signal that reached the workers only
        status = failed.get_first_failure()[1].exitcode
        return 128 - status if status < 0 else status  # killed by a signal: as a shell says it
    return 0


if __name__ == "__main__":
    sys.exit(main())
