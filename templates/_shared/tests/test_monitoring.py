"""Monitoring: the service's input metrics and drift score, the bounded sample log, the monitor's
verdict, and the alert rules and dashboard in deploy/monitoring/ run by a real Prometheus.

Images from the test split raise no alarm; the same images inverted (255 - pixel) raise every
one: the monitor exits 3, the drift score passes the threshold and the drift alert starts."""

import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }} import monitor, sample_log
from {{ cookiecutter.package_name }}.config import Config
from {{ cookiecutter.package_name }}.data import as_model_input, load_splits
from {{ cookiecutter.package_name }}.drift import (
    DRIFT_THRESHOLD,
    WINDOW,
    features,
    load_reference,
    stability,
)
from {{ cookiecutter.package_name }}.sample_log import SampleLog
from {{ cookiecutter.package_name }}.serve import MODEL_NAME, create_app

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "deploy" / "monitoring"
PREDICT = f"/v1/models/{MODEL_NAME}:predict"
DRIFT_SCORE = 'max(input_drift_score{job="' + MODEL_NAME + '"})'
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
INSTALL = "(Debian, Ubuntu: apt install prometheus)"
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason=f"no promtool {INSTALL}")
needs_prometheus = pytest.mark.skipif(PROMETHEUS is None, reason=f"no prometheus {INSTALL}")


@pytest.fixture(scope="module")
def test_images(trained: Config) -> np.ndarray:
    """Every test image, as the model takes them (raw 0-255 pixels)."""
    return as_model_input(load_splits(trained.data)["test"].images)


def log_images(path: Path, images: np.ndarray) -> None:
    SampleLog(path, 10 * 1024 * 1024, rate=1.0).write(images, ["0"] * len(images))


def run_monitor(artifacts: Path, log: Path, *flags: str) -> int:
    return monitor.main(
        [
            "--artifacts",
            str(artifacts),
            "--log",
            str(log),
            "--report",
            str(log.parent / "report.html"),
            *flags,
        ]
    )


def test_test_images_are_no_drift_and_inverted_ones_are(artifacts, test_images, tmp_path, capsys):
    log_images(tmp_path / "same" / "samples.jsonl", test_images)
    log_images(tmp_path / "inverted" / "samples.jsonl", 255 - test_images)
    assert run_monitor(artifacts, tmp_path / "same" / "samples.jsonl") == 0
    assert (tmp_path / "same" / "report.html").is_file()
    assert run_monitor(artifacts, tmp_path / "inverted" / "samples.jsonl") == monitor.DRIFT
    page = (tmp_path / "inverted" / "report.html").read_text()
    assert "mean_pixel" in page and str(len(test_images)) in page  # the feature, the count


def test_too_few_images_a_missing_log_or_a_bad_line_exit_1(
    artifacts, test_images, tmp_path, capsys
):
    log = tmp_path / "samples.jsonl"
    assert run_monitor(artifacts, log) == 1
    assert str(log) in capsys.readouterr().err
    log_images(log, test_images[:10])
    assert run_monitor(artifacts, log) == 1
    err = capsys.readouterr().err
    assert str(log) in err and re.search(r"\b10\b", err)  # the log and its count
    with log.open("a") as file:
        file.write("not json\n")
    assert run_monitor(artifacts, log, "--min-samples", "5") == 1
    assert f"{log}:11" in capsys.readouterr().err  # the file and line
    assert run_monitor(tmp_path, log) == 1
    assert str(tmp_path / "manifest.json") in capsys.readouterr().err


@pytest.mark.parametrize(
    "record",
    [
        {"time": 0, "label": "0", "shape": [0, 0], "pixels": ""},
        {"time": 0, "label": "0", "shape": [], "pixels": ""},
    ],
)
def test_a_record_with_an_empty_image_is_a_bad_line_never_no_drift(
    artifacts, test_images, tmp_path, capsys, record
):
    log = tmp_path / "samples.jsonl"
    log_images(log, test_images)
    with log.open("a") as file:
        file.write(json.dumps(record) + "\n")
    assert run_monitor(artifacts, log) == 1
    assert f"{log}:{len(test_images) + 1}" in capsys.readouterr().err
    assert not (tmp_path / "report.html").exists()


def test_a_line_that_is_not_utf8_is_named_by_file_and_line(
    artifacts, test_images, tmp_path, capsys
):
    log = tmp_path / "samples.jsonl"
    log_images(log, test_images[:5])
    with log.open("ab") as file:
        file.write(b'{"label": "\xff\xfe"}\n')
    log_images(log, test_images[5:])
    assert run_monitor(artifacts, log) == 1
    assert f"{log}:6" in capsys.readouterr().err


def test_a_last_line_being_written_is_skipped(artifacts, test_images, tmp_path):
    log = tmp_path / "samples.jsonl"
    log_images(log, test_images)
    complete = log.read_bytes()
    with log.open("ab") as file:  # serve is half-way through its next line
        file.write(complete[: len(complete.splitlines()[0]) // 2])
    assert run_monitor(artifacts, log) == 0
    assert (tmp_path / "report.html").is_file()


@pytest.mark.slow
def test_the_log_stays_within_its_size_with_several_processes(tmp_path):
    log = tmp_path / "samples.jsonl"
    write = (
        "import numpy as np, pathlib\n"
        "from {{ cookiecutter.package_name }}.sample_log import SampleLog\n"
        f"log = SampleLog(pathlib.Path({str(log)!r}), 4096, 1.0)\n"
        "for _ in range(200): log.write(np.full((3, 1, 8, 8), 9.0), ['1', '2', '3'])"
    )
    writers = [subprocess.Popen([sys.executable, "-c", write]) for _ in range(3)]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0, 0]
    files = sample_log.files(log)
    assert len(files) == sample_log.KEPT_FILES + 1
    assert all(file.stat().st_size <= 4096 for file in files)
    assert {label for _, label in sample_log.read(log)} == {"1", "2", "3"}  # whole lines only


def test_the_service_exports_input_statistics_and_its_drift(artifacts, test_images, tmp_path):
    log = SampleLog(tmp_path / "samples.jsonl", 1024 * 1024, rate=0.5)
    scores = []
    for images in (test_images, 255 - test_images):
        with TestClient(create_app(artifacts, samples=log)) as client:
            for start in range(0, len(images), 30):
                body = {"instances": images[start : start + 30].tolist()}
                assert client.post(PREDICT, json=body).status_code == 200
            metrics = client.get("/metrics").text
        assert f"input_mean_pixel_count {len(images)}.0" in metrics
        assert "predictions_total{label=" in metrics
        scores.append(float(re.search(r"^input_drift_score (\S+)$", metrics, re.M)[1]))
    assert scores[0] < DRIFT_THRESHOLD < scores[1], scores
    # The score is the PSI of the last WINDOW images the service saw, as monitor computes it.
    manifest = json.loads((artifacts / "manifest.json").read_text())
    last = features(images[-WINDOW:])
    assert scores[1] == pytest.approx(stability(load_reference(artifacts, manifest), last).max())
    logged = len(list(sample_log.read(log.path)))
    assert 0.3 * 2 * len(test_images) < logged < 0.7 * 2 * len(test_images)  # about half


def test_the_drift_alert_uses_the_monitor_s_threshold():
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"][0]["rules"]
    drift = next(rule for rule in rules if rule["alert"] == "ModelInputDrift")
    assert drift["expr"].endswith(f"> {DRIFT_THRESHOLD}")


def test_the_deployment_logs_samples_to_an_empty_dir():
    pod = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "deployment.yaml").read_text())
    pod = pod["spec"]["template"]["spec"]
    container = pod["containers"][0]
    log = Path(container["args"][container["args"].index("--sample-log") + 1])
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volume = next(v for v in pod["volumes"] if v["name"] == mounts[str(log.parent)])
    assert "emptyDir" in volume and container["securityContext"]["readOnlyRootFilesystem"]


@needs_promtool
@pytest.mark.parametrize(
    "check", [["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]]
)
def test_the_alert_rules_pass_promtool(check):
    done = subprocess.run([PROMTOOL, *check], cwd=MONITORING, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_service(artifacts: Path, log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    service = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "{{ cookiecutter.package_name }}.serve",
            "--port",
            str(port),
            "--artifacts",
            str(artifacts),
            "--workers",
            "2",
            "--sample-log",
            str(log),
        ]
    )
    wait_for(f"http://127.0.0.1:{port}/v2/health/ready", service)
    return service, f"127.0.0.1:{port}"


def start_prometheus(service: str, folder: Path) -> tuple[subprocess.Popen, str]:
    """A real Prometheus on deploy/monitoring/prometheus.yml, scraping the service each second."""
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(MONITORING / "alerts.yml")]
    config["scrape_configs"][0]["static_configs"] = [{"targets": [service]}]
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{free_port()}"
    prometheus = subprocess.Popen(
        [
            str(PROMETHEUS),
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address={url[7:]}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(f"{url}/-/ready", prometheus)
    return prometheus, url


def wait_for(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError(f"{url} did not answer within 120 s")


def query(prometheus: str, expression: str) -> list:
    """The expression's result now; an invalid one fails the test with Prometheus' error."""
    address = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    with urllib.request.urlopen(address, timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["status"] == "success", (expression, answer)
    return answer["data"]["result"]


def until(check, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "Prometheus did not see it within a minute"
        time.sleep(0.5)


def send(service: str, images: np.ndarray) -> None:
    def post(start: int) -> int:
        body = json.dumps({"instances": images[start : start + 5].tolist()}).encode()
        request = urllib.request.Request(
            f"http://{service}{PREDICT}", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status

    with ThreadPoolExecutor(4) as pool:  # connections of their own: both workers take some
        assert set(pool.map(post, range(0, len(images), 5))) == {200}


def panel_queries() -> list[str]:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def rules_evaluated(prometheus: str) -> bool:
    with urllib.request.urlopen(f"{prometheus}/api/v1/rules", timeout=10) as response:
        rules = [
            rule
            for group in json.loads(response.read())["data"]["groups"]
            for rule in group["rules"]
        ]
    assert all(rule["health"] != "err" for rule in rules), rules
    return len(rules) == 3 and all(rule["health"] == "ok" for rule in rules)


def drift_score(prometheus: str) -> float:
    return float(query(prometheus, DRIFT_SCORE)[0]["value"][1])


@pytest.mark.slow
@needs_prometheus
def test_prometheus_scrapes_the_service_runs_the_rules_and_every_panel(
    artifacts, test_images, tmp_path
):
    log = tmp_path / "traffic" / "samples.jsonl"
    service, address = start_service(artifacts, log)
    prometheus, url = start_prometheus(address, tmp_path)
    drift_alert = 'ALERTS{alertname="ModelInputDrift"}'
    try:
        send(address, test_images)
        until(lambda: all(query(url, expression) for expression in panel_queries()))
        until(lambda: rules_evaluated(url))
        assert drift_score(url) < DRIFT_THRESHOLD
        assert query(url, "ALERTS") == []
        assert run_monitor(artifacts, log) == 0

        send(address, 255 - test_images)
        until(lambda: bool(query(url, drift_alert)))  # pending: it fires after 15 minutes
        assert drift_score(url) > DRIFT_THRESHOLD
        assert run_monitor(artifacts, log) == monitor.DRIFT
    finally:
        for process in (prometheus, service):
            process.terminate()
            process.wait(timeout=30)
