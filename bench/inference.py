"""Inference latency of every exported artifact vs the framework's own model.

python bench/inference.py PROJECT_DIR ARTIFACTS_DIR CHECKPOINT CALLS REPEATS [DATA]

Runs in the starter environment. Each artifact is loaded with the project's own
runtimes module (the runtime its target uses) and called on the test images of DATA
(default: the project's data/digits.npz; a photo folder is read at the manifest's
image_size and channels) at batch 1 and batch 32; prints JSON with per-call latencies
(the median of CALLS calls, REPEATS times), file sizes and each artifact's test accuracy.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

# Verified in Node.js by spawning a process per call: their latency is not the runtime's.
SKIPPED_RUNTIMES = {"onnxruntime-web", "LiteRT.js (Node.js)"}


def per_call(run, pixels: np.ndarray, calls: int) -> float:
    for _ in range(5):  # warm up
        run(pixels)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        run(pixels)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main(
    project: Path, artifacts: Path, checkpoint: Path, calls: int, repeats: int, data_path: Path
) -> dict:
    sys.path.insert(0, str(project / "src"))
    name = next(p.name for p in (project / "src").iterdir() if (p / "__init__.py").is_file())
    runtimes = __import__(f"{name}.runtimes", fromlist=["load_runner"])
    data = __import__(f"{name}.data", fromlist=["load_splits"])
    manifest = json.loads((artifacts / "manifest.json").read_text())
    size, channels = manifest.get("image_size", "auto"), manifest.get("channels", "auto")
    test = data.load_splits(data_path, size, channels)["test"]
    pixels = data.as_model_input(test.images)
    models = {"eager": (checkpoint, checkpoint.stat().st_size, "eager")}
    for entry in manifest["artifacts"]:
        runtime = entry["verified"][0]["runtime"]
        if runtime not in SKIPPED_RUNTIMES:
            models[entry["file"]] = (artifacts / entry["file"], entry["size_bytes"], runtime)
    results = {}
    for label, (path, size, runtime) in models.items():
        run = runtimes.load_runner(path)
        accuracy = float((run(pixels).argmax(axis=1) == test.labels).mean())
        results[label] = {
            "runtime": runtime,
            "size_bytes": size,
            "test_accuracy": accuracy,
            "batch1": [per_call(run, pixels[:1], calls) for _ in range(repeats)],
            "batch32": [per_call(run, pixels[:32], max(calls // 4, 5)) for _ in range(repeats)],
        }
    return results


if __name__ == "__main__":
    project_dir, artifacts_dir, checkpoint_file = (Path(arg) for arg in sys.argv[1:4])
    data_file = Path(sys.argv[6]) if len(sys.argv) > 6 else project_dir / "data" / "digits.npz"
    calls, repeats = int(sys.argv[4]), int(sys.argv[5])
    print(json.dumps(main(project_dir, artifacts_dir, checkpoint_file, calls, repeats, data_file)))
