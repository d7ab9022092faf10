"""The TensorFlow web target: TensorFlow.js against LiteRT.js, in Debian's headless Chromium.

python -m bench.web_runtimes ARTIFACTS_DIR [--images 60] [--loads 5] [--runs 300]

Run with the TensorFlow starter environment's Python. ARTIFACTS_DIR is what a TensorFlow
starter made for web, mobile and server exported: tfjs/ (TF.js graph model), model.tflite
(LiteRT) and saved_model/ (the reference). Needs `npm ci --prefix bench/web` once.

For each runtime, interleaved: --loads cold loads of bench/web/page.html (a fresh browser
context each, so nothing is cached), timed from navigation until the model has answered
once, with every byte fetched; then, in the first load, each of --images test images run at
batch 1 (compared with the SavedModel: max |diff| of logits, top-1 agreement) and --runs
batch-1 calls on one image (latency); then one more cold load each over an emulated
50 Mbit/s connection. Prints a Markdown table for bench/RESULTS.md.
"""

import argparse
import functools
import json
import statistics
import subprocess
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

WEB = Path(__file__).parent / "web"
# A home connection for one extra cold load each: 50 Mbit/s down, 40 ms round trip.
NETWORK = {"latency": 40, "downloadThroughput": 50e6 / 8, "uploadThroughput": 10e6 / 8}
RUNTIMES = {"tfjs": "TensorFlow.js 4.22 (tf.min.js)", "litert": "LiteRT.js 2.5.3 (wasm)"}


def reference(artifacts: Path, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Held-out digits as the model takes them, and the SavedModel's logits for them."""
    import tensorflow as tf

    if not Path("data/digits.npz").is_file():
        raise SystemExit("run from the starter project's folder (it reads data/digits.npz)")
    pixels = np.load("data/digits.npz")["x_test"][:count].astype(np.float32)[..., None]
    serve = tf.saved_model.load(str(artifacts / "saved_model")).signatures["serving_default"]
    return pixels, serve(pixels=tf.constant(pixels))["output_0"].numpy()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def serve_folder(folder: Path) -> ThreadingHTTPServer:
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def drive(artifacts: Path, pixels: np.ndarray, loads: int, runs: int) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for name in ("page.html", "bench.mjs", "node_modules"):
            (root / name).symlink_to((WEB / name).resolve())
        (root / "artifacts").symlink_to(artifacts.resolve())
        images = pixels.reshape(len(pixels), -1).tolist()
        request = {
            "shape": [1, *pixels.shape[1:]],
            "images": images,
            "runtimes": list(RUNTIMES),
            "loads": loads,
            "runs": runs,
            "network": NETWORK,
        }
        (root / "input.json").write_text(json.dumps(request))
        server = serve_folder(root)
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/page.html"
            out = subprocess.run(
                ["node", str(WEB / "drive.mjs"), url, str(root / "input.json")],
                capture_output=True,
                text=True,
                check=False,
                timeout=1800,
            )
        finally:
            server.shutdown()
    if out.returncode != 0:
        raise SystemExit(f"drive.mjs failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


def row(name: str, result: dict, expected: np.ndarray) -> list[str]:
    logits = np.asarray(result["logits"]).reshape(expected.shape)
    load = statistics.median(entry["loadMs"] for entry in result["loads"])
    mib = statistics.median(entry["bytes"] for entry in result["loads"]) / 2**20
    latency = np.asarray(result["latencyMs"])
    return [
        RUNTIMES[name],
        result["backend"],
        f"{np.abs(logits - expected).max():.1e}",
        f"{(logits.argmax(1) == expected.argmax(1)).mean():.0%}",
        f"{load:.0f}",
        f"{np.median(latency):.3f} / {np.percentile(latency, 90):.3f}",
        f"{mib:.2f}",
        f"{result['networkLoadMs']:.0f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts", type=Path)
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    pixels, expected = reference(args.artifacts, args.images)
    results = drive(args.artifacts, pixels, args.loads, args.runs)
    header = [
        "runtime",
        "backend",
        "max abs diff vs SavedModel",
        "top-1 agreement",
        "cold load ms (median)",
        "batch-1 ms p50 / p90",
        "MiB fetched",
        "cold load ms at 50 Mbit/s, 40 ms RTT",
    ]
    print("| " + " | ".join(header) + " |\n|" + " --- |" * len(header))
    for name, result in results.items():
        print("| " + " | ".join(row(name, result, expected)) + " |")
    for name, result in results.items():
        files = sorted(result["fetched"], key=lambda f: -f["bytes"])[:4]
        listing = ", ".join(f"{Path(f['path']).name} {f['bytes'] / 2**20:.2f}" for f in files)
        print(
            f"\n- {RUNTIMES[name]}: largest files (MiB): {listing}; "
            f"page errors: {result['problems'] or 'none'}"
        )


if __name__ == "__main__":
    main()
