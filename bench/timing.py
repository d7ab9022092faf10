"""Repeat, time, summarise: medians and ranges, and ratios measured in the same run."""

import resource
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Stats:
    """Seconds (or any unit) over repeated runs."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def cell(self, unit: str = "s", scale: float = 1.0, digits: int = 3) -> str:
        """'median (min–max)' for a results table."""
        low, high = min(self.values) * scale, max(self.values) * scale
        return f"{self.median * scale:.{digits}g} {unit} ({low:.{digits}g}–{high:.{digits}g})"


def repeat(action: Callable[[int], None], times: int) -> Stats:
    """Time ``action(i)`` ``times`` times."""
    return interleaved({"action": action}, times)["action"]


def interleaved(actions: dict[str, Callable[[int], None]], times: int) -> dict[str, Stats]:
    """Time several actions in turn (a, b, c, a, b, c...), so that a noisy moment hits all."""
    return interleaved_with_cpu(actions, times)[0]


def interleaved_with_cpu(
    actions: dict[str, Callable[[int], None]], times: int
) -> tuple[dict[str, Stats], dict[str, Stats]]:
    """Wall time and the CPU time of the child processes, each action in turn.

    CPU time (user + system) is what a busy machine disturbs least: other work
    delays a command without making it do more.
    """
    wall: dict[str, list[float]] = {name: [] for name in actions}
    cpu: dict[str, list[float]] = {name: [] for name in actions}
    for index in range(times):
        for name, action in actions.items():
            start, start_cpu = time.perf_counter(), _children_cpu()
            action(index)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(_children_cpu() - start_cpu)
    return (
        {name: Stats(tuple(found)) for name, found in wall.items()},
        {name: Stats(tuple(found)) for name, found in cpu.items()},
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def command(
    *args: str | Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Callable[[int], None]:
    """An action that runs a command and fails loudly if it fails."""

    def run(_: int) -> None:
        result = subprocess.run(
            [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, args))} failed:\n{result.stderr[-2000:]}")

    return run


def ratio(numerator: Stats, denominator: Stats) -> float:
    """Median over median: the comparison that survives a noisy machine."""
    return numerator.median / denominator.median
