"""Epoch time on a folder of generated photos, in a generated project's environment.

python -m bench.photo_epochs PROJECT_DIR [--photos N] [--epochs E] [--image-size S]

Writes N photos (bench/photos.py: every mode and format, 30-400 pixels) into a temporary
folder, then runs the project's own ``train --set data=FOLDER`` twice: the first run decodes
every photo into the cache (run_dir/cache) before training, the second finds the cache
unchanged and reuses it. Prints one JSON line: wall time of each run, the decoding time
(their difference) and the training throughput train reports in metrics.json.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.photos import CLASSES, make_photo_folder


def train(project: Path, folder: Path, run_dir: Path, epochs: int, size: str) -> float:
    """Seconds of one ``train`` run of the project on ``folder``."""
    package = next(p.name for p in (project / "src").iterdir() if (p / "__init__.py").is_file())
    command = [
        sys.executable,
        "-m",
        f"{package}.train",
        "--set",
        f"data={folder}",
        "--set",
        f"run_dir={run_dir}",
        "--set",
        f"image_size={size}",
        "--epochs",
        str(epochs),
        "--fresh",
    ]
    start = time.perf_counter()
    subprocess.run(command, cwd=project, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--image-size", default="auto")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="photo-bench-") as scratch:
        folder = make_photo_folder(Path(scratch) / "photos", args.photos // len(CLASSES))
        run_dir = Path(scratch) / "runs"
        first = train(args.project, folder, run_dir, args.epochs, args.image_size)
        again = train(args.project, folder, run_dir, args.epochs, args.image_size)
        metrics = json.loads((run_dir / "metrics.json").read_text())
    print(
        json.dumps(
            {
                "photos": args.photos,
                "epochs": args.epochs,
                "image_size": args.image_size,
                "first_run_s": round(first, 1),
                "cached_run_s": round(again, 1),
                "decode_and_cache_s": round(first - again, 1),
                "train_samples_per_s": round(metrics["train_samples_per_second"], 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
