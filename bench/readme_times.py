"""Time one command a README gives a duration for: wall and CPU time, and the machine's load.

python bench/readme_times.py [--repeats N] [--cwd DIR] -- COMMAND...

Prints one Markdown row for bench/RESULTS.md's "Durations the READMEs state": the command,
the median wall time (min–max), the median CPU time of the command and its children, and the
1-minute load average before and after. CPU time is the figure to compare on a shared machine:
wall time grows with the other work there, CPU time hardly does.
"""

import argparse
import os
import platform
import resource
import subprocess
import time
from datetime import date
from pathlib import Path

from bench.timing import Stats


def timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, children included) of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cwd", type=Path, default=Path.cwd())
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    runs = [timed(args.command, args.cwd) for _ in range(args.repeats)]
    load_after = os.getloadavg()[0]
    wall, cpu = Stats(tuple(w for w, _ in runs)), Stats(tuple(c for _, c in runs))
    shown = " ".join(
        Path(args.command[0]).name if i == 0 else word for i, word in enumerate(args.command)
    )
    print(
        f"| `{shown}` | {wall.cell()} | {cpu.cell()} | {load_before:.1f} → {load_after:.1f} "
        f"| {date.today()}, {platform.machine()} {os.cpu_count()} cores |"
    )


if __name__ == "__main__":
    main()
