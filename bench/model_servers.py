"""The starter's HTTP service against KServe's ModelServer and Seldon's MLServer, same model.

python -m bench.model_servers PROJECT_DIR ARTIFACTS_DIR [--venvs DIR] [--seconds 4]
    [--clients 1 8 32 64] [--workers 2] [--rounds 5] [--baseline OTHER_PROJECT_DIR]
    [--only starter kserve mlserver] [--pin]

Run with the starter environment's Python (the project installed with its serve extra), as
bench/serving.py. Each maintained server gets a throwaway venv of its own under --venvs (made on
first use: the server's pinned release and the runtime at the starter environment's version,
never the project's environments), and a minimal model class that runs the exported model as the
starter does (ONNX Runtime for model.onnx, the SavedModel's serving signature, one runtime
thread). Every server runs --workers processes (KServe: `workers`; MLServer: `parallel_workers`,
inference processes behind its one HTTP process) and answers single-image requests in each
protocol it speaks (v2 asking for the logits only, as every server answers them; "v2 binary":
the binary tensor data extension both ways, as tritonclient sends by default, where the server
has it), from bench/serving.py's load generator: requests/s and p50/p99 at each number of
concurrent clients, the median of --rounds rounds that alternate the servers' order, with the
range; the starter's ratio to KServe's requests/s, and /healthz's p99 while 32 clients saturate
the starter. --baseline measures another version of the project beside it (before and after a
change), each with its own code (its src/ first on the path). --pin runs the load generator on
the last core and the servers on the others (as ``taskset -c`` would), so that neither takes the
other's CPU time.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from importlib.metadata import version
from pathlib import Path

import numpy as np

from bench.serving import JSON, get, healthz_under_load, load, pinned, start

# MLServer 1.7.1's inference workers call asyncio.get_event_loop() with no loop running, which
# uvloop 0.22 turned into "RuntimeError: There is no current event loop in thread
# 'MainThread'": every worker dies and no model loads. Hence the uvloop pin.
SERVERS = {"kserve": ["kserve==0.21.0"], "mlserver": ["mlserver==1.7.1", "uvloop<0.22"]}
RUNTIMES = {"onnx": "onnxruntime", "saved_model": "tensorflow-cpu"}  # server format -> distribution

# The starter's runtimes.server_runner, for the other servers' model classes.
RUNNER = """
import numpy as np


def load(path):
    if path.endswith(".onnx"):
        import onnxruntime
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda pixels: session.run(None, {name: pixels})[0]
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    return lambda pixels: serve(pixels=tf.constant(pixels))["output_0"].numpy()
"""

KSERVE = """
import sys
import uuid

import kserve
import numpy as np

from runner import load


class Digits(kserve.Model):
    def __init__(self, name, path):
        super().__init__(name)
        self.path, self.run = path, None
        # With workers > 1, KServe pickles the model into each worker it spawns, and a
        # runtime's session does not pickle: each worker loads it on its first request.
        self.ready = True

    def predict(self, payload, headers=None):
        if self.run is None:
            self.run = load(self.path)
        if isinstance(payload, kserve.InferRequest):  # the Open Inference Protocol
            pixels = payload.inputs[0].as_numpy().astype(np.float32)
            logits = self.run(pixels)
            output = kserve.InferOutput("logits", list(logits.shape), "FP32")
            asked = (payload.request_outputs or [None])[0]
            binary = payload.use_binary_outputs
            if asked is not None and asked.binary_data is not None:
                binary = asked.binary_data  # an output's own choice comes first
            output.set_data_from_numpy(logits, binary_data=bool(binary))
            return kserve.InferResponse(payload.id or str(uuid.uuid4()), self.name, [output])
        pixels = np.asarray(payload["instances"], dtype=np.float32)
        return {"predictions": self.run(pixels).tolist()}


if __name__ == "__main__":
    name, path, port, workers = sys.argv[1:]
    server = kserve.ModelServer(http_port=int(port), workers=int(workers), enable_grpc=False)
    server.start([Digits(name, path)])
"""

MLSERVER = """
import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse

from runner import load


class Digits(MLModel):
    async def load(self) -> bool:
        self.run = load(self.settings.parameters.uri)
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        pixels = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32)
        logits = NumpyCodec.encode_output("logits", self.run(pixels))
        return InferenceResponse(model_name=self.name, outputs=[logits])
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def venv(folder: Path, server: str, runtime: str) -> Path:
    """A throwaway venv with the server and the runtime at the starter environment's version."""
    folder = folder.absolute()
    python = folder / "bin" / "python"
    if not (folder / ".complete").is_file():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True)
        started = time.perf_counter()
        pins = [*SERVERS[server], f"{runtime}=={version(runtime)}"]
        subprocess.run([str(python), "-m", "pip", "install", "-q", *pins], check=True)
        print(f"<!-- {folder.name}: installed in {time.perf_counter() - started:.0f} s -->")
        (folder / ".complete").touch()
    return python


def wait_ready(service: subprocess.Popen, port: int) -> None:
    for _ in range(900):
        if get(port, "/v2/health/ready")[0] == 200:
            return
        if service.poll() is not None:
            raise RuntimeError(f"the server exited with {service.returncode}")
        time.sleep(0.2)
    raise RuntimeError("the server did not become ready")


def start_kserve(
    python: Path, model: Path, name: str, workers: int, cores: set[int] | None
) -> tuple[subprocess.Popen, int]:
    folder = python.parent.parent
    (folder / "runner.py").write_text(RUNNER)
    (folder / "digits_kserve.py").write_text(KSERVE)
    port = free_port()
    command = [str(python), "digits_kserve.py", name, str(model.resolve()), str(port), str(workers)]
    with (folder / "server.log").open("w") as log:  # its own output, for when it fails
        service = subprocess.Popen(
            command, cwd=folder, stdout=log, stderr=log, preexec_fn=pinned(cores)
        )
    wait_ready(service, port)
    return service, port


def start_mlserver(
    python: Path, model: Path, name: str, workers: int, cores: set[int] | None
) -> tuple[subprocess.Popen, int]:
    folder = python.parent.parent / "models"
    folder.mkdir(exist_ok=True)
    (folder / "runner.py").write_text(RUNNER)
    (folder / "digits_mlserver.py").write_text(MLSERVER)
    port = free_port()
    settings = {
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "parallel_workers": workers,
    }
    (folder / "settings.json").write_text(json.dumps(settings))
    (folder / "model-settings.json").write_text(
        json.dumps(
            {
                "name": name,
                "implementation": "digits_mlserver.Digits",
                "parameters": {"uri": str(model.resolve())},
            }
        )
    )
    mlserver = python.parent / "mlserver"
    with (folder / "server.log").open("w") as log:  # its own output, for when it fails
        service = subprocess.Popen(
            [str(mlserver), "start", str(folder)],
            cwd=folder,
            stdout=log,
            stderr=log,
            preexec_fn=pinned(cores),
        )
    wait_ready(service, port)
    return service, port


Request = tuple[bytes, dict[str, str]]  # body, headers


def bodies(manifest: dict) -> dict[str, Request]:
    """One image, 128 in every pixel, in each protocol."""
    shape = manifest["input"]["shape"][1:]
    image = np.full(shape, 128.0)
    raw = image.astype("<f4").tobytes()
    binary = {
        "inputs": [
            {
                "name": manifest["input"]["name"],
                "datatype": "FP32",
                "shape": [1, *shape],
                "parameters": {"binary_data_size": len(raw)},
            }
        ],
        "outputs": [{"name": "logits", "parameters": {"binary_data": True}}],
    }
    header = json.dumps(binary).encode()
    binary_headers = {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(header)),
    }
    v2 = {
        "inputs": [
            {
                "name": manifest["input"]["name"],
                "datatype": "FP32",
                "shape": [1, *shape],
                "data": image.ravel().tolist(),
            }
        ],
        "outputs": [{"name": "logits"}],  # only what every server answers: the same work
    }
    return {
        "v1": (json.dumps({"instances": [image.tolist()]}).encode(), JSON),
        "v2": (json.dumps(v2).encode(), JSON),
        "v2 binary": (header + raw, binary_headers),
    }


def measure(
    port: int,
    paths: dict[str, str],
    requests: dict[str, Request],
    clients: list[int],
    seconds: float,
) -> dict[tuple[str, int], tuple[float, float, float]]:
    """Requests/s, p50 and p99 (ms) for each protocol and number of clients."""
    found = {}
    for protocol, path in paths.items():
        body, headers = requests[protocol]
        load(port, path, body, 8, 1.0, headers)  # warm-up: every worker loaded and called
        for count in clients:
            latencies = load(port, path, body, count, seconds, headers)
            found[(protocol, count)] = (
                len(latencies) / seconds,
                float(np.quantile(latencies, 0.5) * 1000),
                float(np.quantile(latencies, 0.99) * 1000),
            )
    return found


def spread(values: list[float], digits: int = 0) -> str:
    """The median, and the range when there are several values."""
    median = f"{np.median(values):.{digits}f}"
    if len(values) == 1:
        return median
    return f"{median} ({min(values):.{digits}f}–{max(values):.{digits}f})"


Figures = tuple[float, float, float]  # requests/s, p50 ms, p99 ms


def run_server(
    args: argparse.Namespace, plan: tuple, requests: dict[str, Request], name: str
) -> tuple[dict[tuple[str, int], Figures], float | None]:
    """Start one server, measure it, stop it: its figures, and for a starter /healthz's p99
    (ms) while 32 clients saturate v1."""
    server, paths, project = plan
    model, runtime = served_model(args.artifacts)
    if server == "starter":
        flags = ["--workers", str(args.workers)]
        service, port = start(project, args.artifacts, flags, args.server_cores)
    else:
        python = venv(args.venvs / f"{server}-{runtime}", server, runtime)
        launch = start_kserve if server == "kserve" else start_mlserver
        service, port = launch(python, model, name, args.workers, args.server_cores)
    try:
        found = measure(port, paths, requests, args.clients, args.seconds)
        if server != "starter":
            return found, None
        probes = healthz_under_load(port, paths["v1"], requests["v1"][0], args.seconds)
        return found, float(np.quantile(probes, 0.99) * 1000)
    finally:
        service.send_signal(signal.SIGTERM)
        try:
            service.wait(timeout=60)
        except subprocess.TimeoutExpired:
            service.kill()


def served_model(artifacts: Path) -> tuple[Path, str]:
    """The model file every server serves, and the distribution of its runtime."""
    manifest = json.loads((artifacts / "manifest.json").read_text())
    entry = next(entry for entry in manifest["artifacts"] if entry["format"] in RUNTIMES)
    return artifacts / entry["file"], RUNTIMES[entry["format"]]


def report(
    results: dict[str, dict[tuple[str, int], list[Figures]]], healthz: dict[str, list[float]]
) -> None:
    """The table of medians and ranges, the starter's ratios, and /healthz's p99."""
    print("| server | protocol | clients | requests/s | p50 ms | p99 ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, found in results.items():
        for (protocol, count), runs in found.items():
            rates, p50, p99 = zip(*runs, strict=True)
            print(
                f"| {label} | {protocol} | {count} | {spread(list(rates))} | "
                f"{spread(list(p50), 2)} | {spread(list(p99), 1)} |"
            )
    ours = results.get(OURS, {})
    for other in (THEIRS, BEFORE):
        if other in results and ours:
            print(f"\nstarter ÷ {other}, requests/s (medians):\n")
            for key, runs in ours.items():
                if key in results[other]:
                    ratio = np.median([r[0] for r in runs]) / np.median(
                        [r[0] for r in results[other][key]]
                    )
                    print(f"- {key[0]} at {key[1]} client(s): {ratio:.2f}×")
    for label, p99s in healthz.items():
        print(f"\n/healthz p99 while 32 clients saturate v1, {label}: {spread(p99s, 1)} ms")


OURS, BEFORE, THEIRS = "starter (FastAPI)", "starter, baseline", "kserve 0.21.0"  # labels


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("project", type=Path)
    parser.add_argument("artifacts", type=Path)
    parser.add_argument("--venvs", type=Path, default=Path(".cache/model-servers"))
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="each round reverses the order")
    parser.add_argument(
        "--baseline", type=Path, help="another version of the project, measured beside it"
    )
    parser.add_argument(
        "--only", choices=["starter", *SERVERS], nargs="+", default=["starter", *SERVERS]
    )
    parser.add_argument("--pin", action="store_true", help="the load generator on a core alone")
    args = parser.parse_args()
    args.server_cores = None
    if args.pin:
        cores = os.sched_getaffinity(0)
        args.server_cores = cores - {max(cores)}
        os.sched_setaffinity(0, {max(cores)})  # this process: the load generator
    name = tomllib.loads((args.project / "pyproject.toml").read_text())["project"]["name"]
    requests = bodies(json.loads((args.artifacts / "manifest.json").read_text()))
    v1, v2 = f"/v1/models/{name}:predict", f"/v2/models/{name}/infer"
    speaks = {"v1": v1, "v2": v2, "v2 binary": v2}
    plans = {  # label: (server, the protocols it speaks, the project for a starter)
        OURS: ("starter", speaks, args.project),
        BEFORE: ("starter", speaks, args.baseline),
        THEIRS: ("kserve", speaks, None),
        "mlserver 1.7.1": ("mlserver", {"v2": v2}, None),
    }
    order = [
        label
        for label, (server, _, project) in plans.items()
        if server in args.only and (server != "starter" or project is not None)
    ]
    results: dict[str, dict[tuple[str, int], list[Figures]]] = {}
    healthz: dict[str, list[float]] = {}
    for round_number in range(args.rounds):  # in turn, then in reverse: neither always first
        for label in order if round_number % 2 == 0 else order[::-1]:
            found, probe = run_server(args, plans[label], requests, name)
            for key, figures in found.items():
                results.setdefault(label, {}).setdefault(key, []).append(figures)
            if probe is not None:
                healthz.setdefault(label, []).append(probe)
            print(f"<!-- round {round_number + 1}: {label} measured -->", flush=True)
    model, runtime = served_model(args.artifacts)
    rounds = f"median of {args.rounds} rounds (range)" if args.rounds > 1 else "one round"
    pinning = (
        f", servers on core(s) {sorted(args.server_cores)}, load generator on core "
        f"{max(os.sched_getaffinity(0))}"
        if args.pin
        else ""
    )
    print(
        f"\n{runtime} {version(runtime)}, {model.name}, {args.workers} worker(s), "
        f"{rounds}{pinning}\n"
    )
    report(results, healthz)


if __name__ == "__main__":
    main()
