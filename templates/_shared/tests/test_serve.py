"""The HTTP service, in-process and as a real process: both protocols answer like the runtime
(and like tritonclient expects), batching changes no answer, every bad request is a counted
4xx with a JSON message, never a 500, and SIGTERM loses no accepted request."""

import asyncio
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as tritonclient
from fastapi.testclient import TestClient
from PIL import Image

from {{ cookiecutter.package_name }}.batching import INLINE_SECONDS, Batcher, inline_images
from {{ cookiecutter.package_name }}.data import as_model_input
from {{ cookiecutter.package_name }}.images import load_image
from {{ cookiecutter.package_name }}.model_server import Settings, server_artifact
from {{ cookiecutter.package_name }}.runtimes import load_runner
from {{ cookiecutter.package_name }}.serve import MODEL_NAME, create_app

from .bombs import png_bomb

PREDICT = f"/v1/models/{MODEL_NAME}:predict"
INFER = f"/v2/models/{MODEL_NAME}/infer"


@pytest.fixture(scope="module")
def client(artifacts):
    with TestClient(create_app(artifacts)) as client:  # "with": the model loads at start-up
        yield client


def expected_logits(artifacts: Path, images: np.ndarray) -> np.ndarray:
    """What the server's runtime itself answers, one image at a time."""
    run = load_runner(server_artifact(artifacts)[0])
    return np.concatenate([run(image[None]) for image in images])


def counted(endpoint: str, status: int) -> str:
    """The Prometheus sample that counts these responses."""
    return 'requests_total{endpoint="' + endpoint + '",status="' + str(status) + '"}'


def v2_request(images: np.ndarray) -> dict:
    return {
        "inputs": [
            {
                "name": "pixels",
                "datatype": "FP32",
                "shape": list(images.shape),
                "data": images.ravel().tolist(),
            }
        ]
    }


def test_both_protocols_answer_like_the_runtime(client, artifacts, images):
    v1 = client.post(PREDICT, json={"instances": images.tolist()})
    alias = client.post("/predict", json={"instances": images.tolist()})
    v2 = client.post(INFER, json=v2_request(images))
    assert v1.status_code == alias.status_code == v2.status_code == 200
    logits = np.asarray(v1.json()["predictions"])
    np.testing.assert_allclose(logits, expected_logits(artifacts, images), atol=1e-4)
    assert alias.json() == v1.json()
    output = v2.json()["outputs"][0]
    assert output["shape"] == list(logits.shape)
    assert np.asarray(output["data"]).reshape(output["shape"]).tolist() == logits.tolist()


def test_encoded_images_are_read_the_way_training_read_them(client, artifacts, tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (40, 30), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    manifest = json.loads((artifacts / "manifest.json").read_text())
    decoded = load_image(tmp_path / "photo.png", manifest["image_size"], manifest["channels"])
    instance = {"b64": base64.b64encode((tmp_path / "photo.png").read_bytes()).decode()}
    answer = client.post(PREDICT, json={"instances": [instance, instance]})
    assert answer.status_code == 200, answer.text
    expected = expected_logits(artifacts, as_model_input(decoded[None]))
    np.testing.assert_allclose(answer.json()["predictions"], np.r_[expected, expected], atol=1e-4)


@pytest.mark.parametrize(
    ("instance", "message"),
    [
        ({"b64": "not base64!"}, 'Instance 0\'s "b64" is not valid base64.'),
        ({"b64": base64.b64encode(b"notes").decode()}, "Instance 0 is not an image this service"),
        ({"b64": 3}, 'Instance 0 must be {"b64": "<base64 of an image file>"}'),
    ],
)
def test_bad_encoded_images_are_refused_with_a_message(client, instance, message):
    answer = client.post(PREDICT, json={"instances": [instance]})
    assert answer.status_code == 400 and message in answer.json()["error"], answer.text


def encoded_file(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode()}


def test_a_picture_above_the_pixel_limit_gets_413_naming_the_limit(client):
    bomb = encoded_file(png_bomb(13000, 13000))  # 169 Mpx in 20 KB: refused from its header
    answer = client.post(PREDICT, json={"instances": [encoded_file(png_bomb(8, 8)), bomb]})
    assert answer.status_code == 413 and "MAX_IMAGE_PIXELS" in answer.json()["error"]


# 64 Mpx in 8 KB: within the limit, it takes a second or more to decode.
LARGE = {"instances": [encoded_file(png_bomb(8000, 8000))]}


def test_a_large_picture_is_answered_within_the_timeout(client, artifacts):
    assert client.post(PREDICT, json=LARGE).status_code == 200
    # Sixteen of them take seconds to decode on any CPU; the body itself arrives at once.
    many = {"instances": LARGE["instances"] * 16}
    with TestClient(create_app(artifacts, Settings(timeout=0.3))) as hurried:
        assert hurried.post(PREDICT, json=many).status_code == 504


@pytest.mark.parametrize("batching", [True, False])
def test_concurrent_requests_get_their_own_answers(artifacts, images, batching):
    settings = Settings(batching=batching, max_batch=8, max_delay=0.05)
    with TestClient(create_app(artifacts, settings)) as client, ThreadPoolExecutor(16) as pool:
        answers = list(
            pool.map(
                lambda image: client.post(PREDICT, json={"instances": [image.tolist()]}), images
            )
        )
        metrics = client.get("/metrics").text
    assert [answer.status_code for answer in answers] == [200] * len(images)
    logits = np.asarray([answer.json()["predictions"][0] for answer in answers])
    np.testing.assert_allclose(logits, expected_logits(artifacts, images), atol=1e-4)
    assert f"{counted(PREDICT, 200)} {len(images)}.0" in metrics


def test_a_request_given_to_a_batcher_as_it_closes_is_still_answered():
    # As when a swap closes the old version's batcher just after a request chose it.
    batcher = Batcher(lambda pixels: pixels * 2, max_batch=4, max_delay=0.0)
    batcher.close()
    answer = asyncio.run(asyncio.wait_for(batcher(np.ones((1, 2), np.float32)), timeout=10))
    assert answer.tolist() == [[2.0, 2.0]]


def test_only_calls_within_the_inline_bound_run_on_the_event_loop():
    def slow(pixels: np.ndarray) -> np.ndarray:
        time.sleep(INLINE_SECONDS * 2)
        return pixels

    assert inline_images(slow, [2], 32) == 0
    assert inline_images(lambda pixels: pixels, [2], 32) == 32  # never more than max_batch
    on_the_loop = []

    def run(pixels: np.ndarray) -> np.ndarray:
        on_the_loop.append(threading.current_thread() is threading.main_thread())
        return pixels

    batcher = Batcher(run, max_batch=8, max_delay=0.0, inline=2)
    for images in (2, 3):
        asyncio.run(batcher(np.ones((images, 2), np.float32)))
    batcher.close()
    assert on_the_loop == [True, False]


def deep(levels: int) -> bytes:
    return b'{"instances": ' + b"[" * levels + b"]" * levels + b"}"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b'{"inputs": []}', '"instances" list'),
        (b'{"instances": []}', "1 to 1024 images"),
        (b'{"instances": [[1, 2], [3]]}', "numbers in the shape"),
        (b'{"instances": [[[1, 2]]]}', "must have the shape"),
        (b'{"instances": "pixels"}', '"instances" must be a list'),
        (deep(100_000), "nested too deeply"),
    ],
)
def test_malformed_requests_get_a_clear_400(client, body, message):
    response = client.post(PREDICT, content=body)
    assert response.status_code == 400
    assert message in response.json()["error"]


@pytest.mark.parametrize(
    "pixel", ['"7"', "true", "null", "300", "-1", "1e400", "1" + "0" * 400, "7" * 5000, "NaN"]
)
def test_only_numbers_from_0_to_255_are_pixels(client, images, pixel):
    body = json.dumps({"instances": images[:1].tolist()}).replace("0.0", pixel, 1)
    response = client.post(PREDICT, content=body.encode())
    assert response.status_code == 400 and "pixel" in response.json()["error"].lower()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "image"}, '"name" must be "pixels"'),
        ({"datatype": "INT8"}, '"datatype"'),
        ({"shape": [1, 2]}, '"shape" must be'),
        ({"data": [1.0]}, '"data" must hold'),
        ({"extra": 1}, "Unknown field(s) in the input: 'extra'"),
    ],
)
def test_malformed_v2_tensors_get_a_clear_400(client, images, change, message):
    body = v2_request(images[:1])
    body["inputs"][0].update(change)
    response = client.post(INFER, json=body)
    assert response.status_code == 400 and message in response.json()["error"]


def test_a_body_over_the_limit_gets_413_before_it_is_read(artifacts, images):
    with TestClient(create_app(artifacts, Settings(max_body_bytes=1000))) as client:
        declared = client.post(PREDICT, json={"instances": images.tolist()})
        streamed = client.post(PREDICT, content=(b" " * 600 for _ in range(4)))
        assert client.post(PREDICT, json={"instances": images[:1].tolist()}).status_code == 200
        metrics = client.get("/metrics").text
    assert declared.status_code == streamed.status_code == 413
    assert "--max-body-bytes" in streamed.json()["error"]
    assert f"{counted(PREDICT, 413)} 2.0" in metrics


def test_unknown_paths_and_methods_answer_json(client):
    missing, wrong = client.get("/nope"), client.get(PREDICT)
    assert (missing.status_code, wrong.status_code) == (404, 405)
    assert missing.json()["error"] and wrong.json()["error"]


def test_liveness_readiness_status_and_metadata(client, images):
{%- if cookiecutter.registry %}
    # An artifacts folder is version 1; test_registry.py serves registered versions.
    assert client.get("/healthz").json() == {"status": "ok", "model": MODEL_NAME, "version": "1"}
{%- else %}
    assert client.get("/healthz").json() == {"status": "ok"}
{%- endif %}
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").status_code == 200
    assert client.get(f"/v2/models/{MODEL_NAME}/ready").json() == {"ready": True}
    state = client.get(f"/v1/models/{MODEL_NAME}").json()["model_version_status"][0]["state"]
    assert state == "AVAILABLE"
    metadata = client.get(f"/v2/models/{MODEL_NAME}").json()
    assert metadata["inputs"][0]["shape"] == [-1, *images.shape[1:]]
    assert metadata["outputs"][0]["datatype"] == "FP32"


def test_a_broken_model_is_alive_never_ready_and_its_503s_are_counted(artifacts, images, tmp_path):
    manifest = json.loads((artifacts / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
{%- if cookiecutter.monitoring %}
    (tmp_path / "reference.json").write_bytes((artifacts / "reference.json").read_bytes())
{%- endif %}
    model_file = tmp_path / server_artifact(artifacts)[0].name
    model_file.mkdir() if server_artifact(artifacts)[0].is_dir() else model_file.write_bytes(b"x")
    with TestClient(create_app(tmp_path, Settings(timeout=2))) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/v2/health/ready").status_code == 503
        answer = client.post(PREDICT, json={"instances": images[:1].tolist()})
        metrics = client.get("/metrics").text
    assert answer.status_code == 503 and "Cannot load" in answer.json()["error"]
    assert f"{counted(PREDICT, 503)} 1.0" in metrics


def test_the_test_client_imports_without_a_deprecation_warning():
    # Starlette's TestClient warns when it must fall back on httpx: the dev extra has httpx2.
    subprocess.run([sys.executable, "-W", "error", "-c", "import fastapi.testclient"], check=True)


def test_openapi_documents_every_endpoint_and_error(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {PREDICT, "/predict", INFER, "/metrics", "/healthz", "/v2/health/ready"} <= set(paths)
    for path in (PREDICT, INFER):
        operation = paths[path]["post"]
        assert "application/json" in operation["requestBody"]["content"]
        assert {"200", "400", "413", "503", "504"} <= set(operation["responses"])
    assert "text/plain" in next(iter(paths["/metrics"]["get"]["responses"]["200"]["content"]))


def start(artifacts: Path, *flags: str) -> tuple[subprocess.Popen, str]:
    """``python -m ...serve --port 0``, once ready: its process and address."""
    service, url = start_unready(artifacts, *flags)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and service.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2):
                return service, url
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    service.kill()
    raise AssertionError("the service did not become ready within 120 s")


def start_unready(artifacts: Path, *flags: str) -> tuple[subprocess.Popen, str]:
    """``python -m ...serve --port 0``: its address, read from the line it prints first."""
{%- if cookiecutter.monitoring %}
    flags = ("--sample-log", str(artifacts.parent / "traffic.jsonl"), *flags)  # not the project's
{%- endif %}
    service = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "{{ cookiecutter.package_name }}.serve",
            "--port",
            "0",
            "--artifacts",
            str(artifacts),
            *flags,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert service.stdout is not None
    first_line = service.stdout.readline()  # the address it serves on
    url = re.search(r"http://[\d.]+:\d+", first_line)
    assert url, first_line
    return service, url[0]


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def service(artifacts):
    process, url = start(artifacts)
    yield url
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def readiness(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.slow  # several worker processes
def test_ready_means_every_worker_has_loaded_the_model(artifacts):
    # A probe may reach either worker: one that has loaded must not say ready for both.
    process, url = start_unready(artifacts, "--workers", "2")
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    os.kill(int(children[0]), signal.SIGSTOP)  # still importing: it loads nothing while held
    try:
        deadline = time.monotonic() + 120
        while (answer := readiness(url))[1].get(
            "error"
        ) != "Other workers are still loading the model." and time.monotonic() < deadline:
            assert answer[0] == 503, answer
            time.sleep(0.2)
        assert [readiness(url)[0] for _ in range(5)] == [503] * 5
    finally:
        os.kill(int(children[0]), signal.SIGCONT)
    deadline = time.monotonic() + 120
    while readiness(url)[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert readiness(url) == (200, {"ready": True})
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def test_tritonclient_gets_the_same_answers_as_v1(service, images):
    client = tritonclient.InferenceServerClient(url=service.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(MODEL_NAME)
    expected = client.get_model_metadata(MODEL_NAME)["inputs"][0]
    given = tritonclient.InferInput(expected["name"], list(images.shape), expected["datatype"])
    given.set_data_from_numpy(images, binary_data=False)
    wanted = tritonclient.InferRequestedOutput("logits", binary_data=False)
    logits = client.infer(MODEL_NAME, [given], outputs=[wanted]).as_numpy("logits")
    status, v1 = post(service + PREDICT, {"instances": images.tolist()})
    assert status == 200 and logits.tolist() == v1["predictions"]


def test_sigterm_answers_every_accepted_request_then_exits_0(artifacts, images):
    process, url = start(artifacts, "--max-delay-ms", "500", "--max-batch", "64")
    with ThreadPoolExecutor(len(images)) as pool:
        answers = [
            pool.submit(post, url + PREDICT, {"instances": [image.tolist()]}) for image in images
        ]
        time.sleep(0.25)  # connected, and waiting in the batcher for the others
        process.send_signal(signal.SIGTERM)
        statuses = [answer.result()[0] for answer in answers]
    assert statuses == [200] * len(images)
    assert process.wait(timeout=30) == 0


def test_sigterm_while_the_workers_start_exits_0(artifacts):
    service = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "{{ cookiecutter.package_name }}.serve",
            "--port",
            "0",
            "--artifacts",
            str(artifacts),
            "--workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert service.stdout is not None and service.stdout.readline()  # it says it is serving
    time.sleep(0.3)  # the workers are still importing: a rollout can stop a pod this early
    service.send_signal(signal.SIGTERM)
    assert service.wait(timeout=30) == 0


@pytest.mark.slow  # several worker processes
@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_as_soon_as_it_says_serving_exits_0(artifacts, tmp_path, workers):
    errors = tmp_path / "stderr.txt"  # a file: a worker left behind would hold a pipe open
    for _ in range(3):  # each start meets the signal at a slightly different moment
        with errors.open("w") as stderr:
            service = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "{{ cookiecutter.package_name }}.serve",
                    "--port",
                    "0",
                    "--artifacts",
                    str(artifacts),
                    "--workers",
                    workers,
                ],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        assert service.stdout is not None and service.stdout.readline()  # said it is serving
        service.send_signal(signal.SIGTERM)
        try:
            code = service.wait(timeout=60)
        finally:
            service.kill()  # one that the signal did not stop must not outlive the test
        assert code == 0 and "Traceback" not in errors.read_text(), errors.read_text()


def resident_megabytes(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status)[1]) / 1024


def oversized(url: str, megabytes: int) -> int:
    """POST a chunked body of this size (no Content-Length); the answer's status, or 0 where
    the service answered 413 and closed the connection while the rest was still coming."""
    request = urllib.request.Request(
        url,
        data=(b" " * 1024 * 1024 for _ in range(megabytes)),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def test_healthz_answers_while_predict_is_saturated(service, images):
    body = {"instances": images[:1].tolist()}
    until = time.monotonic() + 3
    with ThreadPoolExecutor(32) as pool:

        def saturate(_: int) -> int:
            count = 0
            while time.monotonic() < until:
                assert post(service + PREDICT, body)[0] == 200
                count += 1
            return count

        busy = [pool.submit(saturate, n) for n in range(32)]
        slowest = 0.0
        while time.monotonic() < until:
            started = time.perf_counter()
            urllib.request.urlopen(f"{service}/healthz", timeout=10).read()
            slowest = max(slowest, time.perf_counter() - started)
            time.sleep(0.05)
        assert sum(answer.result() for answer in busy) > 32
    assert slowest < 2.0  # a generous bound; bench/ measures the p99 (goal < 50 ms)


def test_healthz_answers_while_large_pictures_decode(artifacts):
    process, url = start(artifacts, "--workers", "1")
    try:
        with ThreadPoolExecutor(3) as pool:
            answers = [pool.submit(post, url + PREDICT, LARGE) for _ in range(3)]
            slowest = 0.0
            while not all(answer.done() for answer in answers):
                started = time.perf_counter()
                urllib.request.urlopen(f"{url}/healthz", timeout=30).read()
                slowest = max(slowest, time.perf_counter() - started)
                time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert [answer.result()[0] for answer in answers] == [200] * 3
    assert slowest < 0.5  # each decode takes longer: none ran on the event loop


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc (Linux)")
def test_oversized_bodies_are_refused_with_memory_bounded(artifacts, images):
    process, url = start(artifacts, "--max-body-bytes", "1000000", "--workers", "1")
    try:
        before = resident_megabytes(process.pid)
        statuses = [oversized(url + PREDICT, 16) for _ in range(12)]  # 192 MB in all
        grown = resident_megabytes(process.pid) - before
        assert post(url + PREDICT, {"instances": images[:1].tolist()})[0] == 200
        metrics = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert set(statuses) <= {413, 0}
    assert f"{counted(PREDICT, 413)} 12.0" in metrics  # each refused, none read whole
    assert grown < 50, f"the service grew by {grown:.0f} MB"


def metric_sample(url: str, sample: str) -> float:
    metrics = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    found = re.search(rf"^{re.escape(sample)} (\S+)$", metrics, re.MULTILINE)
    return float(found[1]) if found else 0.0


@pytest.mark.slow  # several worker processes
def test_metrics_count_every_request_across_workers(artifacts, images):
    process, url = start(artifacts, "--workers", "2")
    try:
        body = {"instances": images[:1].tolist()}
        with ThreadPoolExecutor(16) as pool:  # each its own connection: both workers take some
            statuses = list(pool.map(lambda _: post(url + PREDICT, body)[0], range(64)))
        # Each scrape is answered by whichever worker accepts it: every one sums all workers.
        scraped = [metric_sample(url, counted(PREDICT, 200)) for _ in range(8)]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert statuses == [200] * 64
    assert scraped == [64.0] * 8


def test_workers_and_threads_must_be_sensible(artifacts):
    for flag, value in (("--workers", "0"), ("--threads", "-1")):
        finished = subprocess.run(
            [
                sys.executable,
                "-m",
                "{{ cookiecutter.package_name }}.serve",
                "--artifacts",
                str(artifacts),
                flag,
                value,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert finished.returncode == 2  # a usage error (test_numeric_flags.py has the rest)
        assert flag in finished.stderr and "Traceback" not in finished.stderr


def test_a_body_that_stops_arriving_gets_408(artifacts):
    process, url = start(artifacts, "--timeout", "1")
    host, port = url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=30) as connection:
            connection.sendall(
                f"POST {PREDICT} HTTP/1.1\r\nHost: {host}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100\r\n"
                '\r\n{"instances": '.encode()
            )  # and then nothing
            answer = b""
            while not answer.endswith(b"}") and (chunk := connection.recv(65536)):
                answer += chunk
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert answer.startswith(b"HTTP/1.1 408") and b"--timeout" in answer


def test_a_port_out_of_range_is_a_usage_error(artifacts):
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "{{ cookiecutter.package_name }}.serve",
            "--artifacts",
            str(artifacts),
            "--port",
            "99999",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 2 and "99999" in finished.stderr
    assert "Traceback" not in finished.stderr


@pytest.mark.parametrize("host", ["no-such-host.invalid", "192.0.2.1"])  # no name; not ours
def test_a_host_this_machine_cannot_listen_on_is_named(artifacts, host):
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "{{ cookiecutter.package_name }}.serve",
            "--artifacts",
            str(artifacts),
            "--host",
            host,
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 1
    assert finished.stderr.startswith("error: ")
    assert host in finished.stderr and "--host" in finished.stderr  # the address, the flag
    assert "--port" not in finished.stderr and "Traceback" not in finished.stderr


# Training frameworks and model runtimes: each is hundreds of MB once imported.
HEAVY = {"tensorflow", "keras", "torch", "onnxruntime"}


def imported_by(module: str) -> set[str]:
    """The top-level packages a fresh interpreter holds once it has imported this module."""
    code = f"import sys, {module}; print(*sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return {name.split(".")[0] for name in loaded}


def test_the_supervisor_imports_no_framework_or_runtime():
    # serve --workers N: the supervising process is serve's import and nothing more; only
    # the workers load the model's runtime (one copy each).
    assert imported_by("{{ cookiecutter.package_name }}.serve") & HEAVY == set()
