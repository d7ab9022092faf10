"""Where a single-image request's time goes in the starter's service, stage by stage.

python -m bench.request_stages PROJECT_DIR ARTIFACTS_DIR [--repeat 2000]

Run with the starter environment's Python. Each stage of a one-image request is timed alone
with the project's own code (its src/ first on the path), the median of --repeat calls: parsing
the body and checking it (v1: inputs.parse_json and inputs.instances; v2: open_inference.read),
the hand-off of the model call to a thread and back (asyncio.to_thread on a running loop,
what a request pays unless it runs on the event loop: batching.inline_images), the model call
itself (runtimes.server_runner, one thread, as serve runs it) and encoding the answer. The
rest of a request, HTTP and the framework (uvicorn, FastAPI, the middleware), is what one
client's p50 latency against a running service (bench/serving.py's load generator,
--workers 1) leaves once those stages are taken away. One Markdown table.
"""

import argparse
import asyncio
import importlib
import json
import signal
import statistics
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.serving import load, start


def median_ms(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def hand_off_ms(repeat: int) -> float:
    """A call handed to asyncio's default thread pool and back, on a running loop."""

    async def measure() -> float:
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            await asyncio.to_thread(lambda: None)
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1000

    return asyncio.run(measure())


def stages(
    project: Path, artifacts: Path, repeat: int
) -> tuple[dict[str, dict[str, float]], dict[str, bytes]]:
    """Each stage's median ms per protocol, and the one-image bodies."""
    package = next(p.name for p in (project / "src").iterdir() if (p / "serve.py").is_file())
    sys.path.insert(0, str(project / "src"))
    inputs = importlib.import_module(f"{package}.inputs")
    open_inference = importlib.import_module(f"{package}.open_inference")
    model_server = importlib.import_module(f"{package}.model_server")
    runtimes = importlib.import_module(f"{package}.runtimes")
    responses = importlib.import_module("fastapi.responses")
    file, manifest = model_server.server_artifact(artifacts)
    shape, name = manifest["input"]["shape"][1:], manifest["input"]["name"]
    image = np.full(shape, 128.0)
    v1_body = json.dumps({"instances": [image.tolist()]}).encode()
    tensor = {"name": name, "datatype": "FP32", "shape": [1, *shape]}
    v2_body = json.dumps(
        {"inputs": [tensor | {"data": image.ravel().tolist()}], "outputs": [{"name": "logits"}]}
    ).encode()
    run = runtimes.server_runner(file, 1)
    pixels = image[np.newaxis].astype(np.float32)
    run(pixels)
    logits = run(pixels)
    labels = [manifest["classes"][int(logits.argmax())]]
    inference = open_inference.read(v2_body, None, name, shape)
    batching = importlib.import_module(f"{package}.batching")
    inline = hasattr(batching, "inline_images") and batching.inline_images(run, shape, 32) >= 1
    hand_off = "hand-off to a thread and back" + (" (not paid: runs on the loop)" if inline else "")
    common = {hand_off: hand_off_ms(repeat)}
    common["model call"] = median_ms(lambda: run(pixels), repeat)
    return {
        "v1": {
            "parse": median_ms(lambda: inputs.parse_json(v1_body), repeat),
            "check": median_ms(
                lambda: inputs.instances(inputs.parse_json(v1_body), shape, encoded=True), repeat
            )
            - median_ms(lambda: inputs.parse_json(v1_body), repeat),
            **common,
            "encode": median_ms(
                lambda: responses.JSONResponse(
                    {"predictions": logits.round(6).tolist(), "labels": labels}
                ),
                repeat,
            ),
        },
        "v2": {
            "parse and check": median_ms(
                lambda: open_inference.read(v2_body, None, name, shape), repeat
            ),
            **common,
            "encode": median_ms(
                lambda: open_inference.answer(package, "1", inference, logits.round(6), labels),
                repeat,
            ),
        },
    }, {"v1": v1_body, "v2": v2_body}


def whole_request_ms(project: Path, artifacts: Path, bodies: dict[str, bytes]) -> dict[str, float]:
    """One client's p50 against the running service (one worker), per protocol."""
    distribution = tomllib.loads((project / "pyproject.toml").read_text())["project"]["name"]
    paths = {"v1": f"/v1/models/{distribution}:predict", "v2": f"/v2/models/{distribution}/infer"}
    service, port = start(project, artifacts, ["--workers", "1"])
    try:
        found = {}
        for protocol, path in paths.items():
            load(port, path, bodies[protocol], 1, 1.0)  # warm-up
            found[protocol] = float(np.median(load(port, path, bodies[protocol], 1, 3.0)) * 1000)
        return found
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("project", type=Path)
    parser.add_argument("artifacts", type=Path)
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    measured, bodies = stages(args.project, args.artifacts, args.repeat)
    whole = whole_request_ms(args.project, args.artifacts, bodies)
    print("| protocol | stage | ms (median) |")
    print("| --- | --- | --- |")
    for protocol, found in measured.items():
        for stage, ms in found.items():
            print(f"| {protocol} | {stage} | {ms:.3f} |")
        paid = sum(ms for stage, ms in found.items() if "not paid" not in stage)
        print(f"| {protocol} | HTTP and the framework (the rest) | {whole[protocol] - paid:.3f} |")
        print(f"| {protocol} | **whole request, one client (p50)** | **{whole[protocol]:.3f}** |")


if __name__ == "__main__":
    main()
