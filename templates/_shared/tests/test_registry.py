"""The model registry: register makes the verified export a new version in MLflow's registry,
with its aliases, and refuses an export that did not verify; the registry is read back with
MlflowClient (the tests' own store: conftest.py sets MLFLOW_TRACKING_URI).
{%- if cookiecutter.server %} The service serves a
registered version like the artifacts folder it came from.
{%- endif %}
"""

import json
{%- set targets = cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server %}
{%- if cookiecutter.server %}
import re
{%- endif %}
{%- if targets %}
import shutil
{%- endif %}
{%- if cookiecutter.server %}
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
{%- endif %}
from dataclasses import asdict
from pathlib import Path
{%- if cookiecutter.server %}
from urllib.parse import urlparse
{%- endif %}

{% if cookiecutter.server -%}
import numpy as np
{% endif -%}
import pytest
{%- if cookiecutter.server %}
from fastapi.testclient import TestClient
{%- endif %}
from mlflow import MlflowClient

from {{ cookiecutter.package_name }} import tracking
from {{ cookiecutter.package_name }}.config import Config, with_overrides
{%- if targets %}
from {{ cookiecutter.package_name }}.export import export
{%- endif %}
{%- if cookiecutter.server %}
from {{ cookiecutter.package_name }}.model_server import server_artifact
{%- endif %}
from {{ cookiecutter.package_name }}.register import MODEL_NAME, main
{%- if cookiecutter.server %}
from {{ cookiecutter.package_name }}.registered import fetch
from {{ cookiecutter.package_name }}.serve import create_app
from {{ cookiecutter.package_name }}.serve import main as serve_main
from {{ cookiecutter.package_name }}.train import train

from .test_serve import metric_sample, readiness
{%- endif %}


def client() -> MlflowClient:
    return MlflowClient(tracking.tracking_uri())


def register(config: Config, folder: Path, *aliases: str) -> int:
    """Register as the command line does: --config FILE [--alias NAME]..."""
    config_file = folder / "default.yaml"  # a whole config: nothing to take from another
    config_file.write_text(json.dumps(asdict(config)))  # JSON is YAML
    return main(["--config", str(config_file), *(f"--alias={alias}" for alias in aliases)])


def versions() -> int:
    return len(client().search_model_versions(f"name='{MODEL_NAME}'"))
{%- if targets %}


@pytest.fixture(scope="module")
{%- if cookiecutter.server %}
def exported(trained: Config, artifacts: Path) -> Config:
    """The trained model's server export, the one the service tests use."""
    return with_overrides(trained, targets=["server"], artifacts_dir=str(artifacts))
{%- else %}
def exported(trained: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The trained model, exported for its quickest target."""
    quickest = min(trained.targets, key=["edge", "web", "mobile"].index)
    folder = tmp_path_factory.mktemp("exported")
    config = with_overrides(trained, targets=[quickest], artifacts_dir=str(folder))
    export(config)
    return config
{%- endif %}


def test_register_makes_a_new_version_of_every_file_and_moves_its_aliases(exported, tmp_path):
    assert register(exported, tmp_path, "candidate", "champion") == 0
    first = client().get_model_version_by_alias(MODEL_NAME, "champion")
    assert client().get_model_version_by_alias(MODEL_NAME, "candidate").version == first.version
    artifacts = Path(exported.artifacts_dir)
    manifest = json.loads((artifacts / "manifest.json").read_text())
    files = {f"model/{entry['file']}" for entry in manifest["artifacts"]}
{%- if cookiecutter.monitoring %}
    files.add(f"model/{manifest['monitoring']['reference']}")  # the service's drift reference
{%- endif %}
    logged = {item.path for item in client().list_artifacts(first.run_id, "model")}
    assert logged == files | {"model/manifest.json", "model/metrics.json"}
    copy = client().download_artifacts(first.run_id, "model/manifest.json", str(tmp_path))
    assert json.loads(Path(copy).read_text()) == manifest  # with its parity figures
    run = client().get_run(first.run_id)
    assert run.data.metrics["test_accuracy"] == pytest.approx(
        json.loads((Path(exported.run_dir) / "metrics.json").read_text())["test_accuracy"]
    )

    assert register(exported, tmp_path, "champion") == 0  # a new version takes the alias
    second = client().get_model_version_by_alias(MODEL_NAME, "champion")
    assert int(second.version) == int(first.version) + 1
    assert client().get_model_version_by_alias(MODEL_NAME, "candidate").version == first.version


def model_file(path: Path) -> Path:
    """The file itself, or the largest file of a model folder (a SavedModel)."""
    return path if path.is_file() else max(path.rglob("*"), key=lambda p: p.stat().st_size)


def one_byte_changed(content: bytes) -> bytes:
    """The same size, another content."""
    changed = bytearray(content)
    changed[len(changed) // 2] ^= 0xFF
    return bytes(changed)


def test_a_file_that_differs_from_its_manifest_is_refused_before_anything_is_made(
    exported, tmp_path
):
    folder = Path(shutil.copytree(exported.artifacts_dir, tmp_path / "artifacts"))
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = manifest["artifacts"][0]
    target = model_file(folder / entry["file"])
    before, runs = versions(), len(client().search_runs([tracking.experiment_id()]))
    config = with_overrides(exported, artifacts_dir=str(folder))
    original = target.read_bytes()
    target.write_bytes(original[:-1])  # cut short, as a copy that stopped
    assert register(config, tmp_path) == 1
    target.write_bytes(one_byte_changed(original))
    assert register(config, tmp_path) == 1
    assert versions() == before
    assert len(client().search_runs([tracking.experiment_id()])) == runs  # no run either


def test_a_manifest_from_an_older_export_still_registers(exported, tmp_path):
    folder = Path(shutil.copytree(exported.artifacts_dir, tmp_path / "artifacts"))
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["lineage"]
    for entry in manifest["artifacts"]:
        del entry["sha256"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    before = versions()
    assert register(with_overrides(exported, artifacts_dir=str(folder)), tmp_path) == 0
    assert versions() == before + 1


def test_an_export_that_failed_verification_is_refused(exported, tmp_path, capsys):
    folder = Path(shutil.copytree(exported.artifacts_dir, tmp_path / "artifacts"))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["artifacts"][-1]["verified"][0]["ok"] = False
    (folder / "manifest.json").write_text(json.dumps(manifest))
    before = versions()
    assert register(with_overrides(exported, artifacts_dir=str(folder)), tmp_path, "bad") == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1
    assert manifest["artifacts"][-1]["file"] in error  # names the file that failed
    assert versions() == before
{%- endif %}


DAMAGED = {
    "not JSON": "{",
    "no artifacts": "{}",
    "odd entries": '{"artifacts": [{"file": 1, "verified": [true]}]}',
}


@pytest.mark.parametrize("damage", ["missing", *DAMAGED])
def test_a_missing_or_damaged_manifest_is_refused(trained, tmp_path, capsys, damage):
    folder = tmp_path / "artifacts"
    folder.mkdir()
    if damage != "missing":
        (folder / "manifest.json").write_text(DAMAGED[damage])
    before = versions()
    assert register(with_overrides(trained, artifacts_dir=str(folder)), tmp_path) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1
    assert str(folder / "manifest.json") in error
    assert versions() == before


def test_an_alias_mlflow_would_refuse_is_a_usage_error(trained, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        register(trained, tmp_path, "v2")
    assert stopped.value.code == 2 and "v2" in capsys.readouterr().err


@pytest.mark.parametrize("alias", ["Latest", "LATEST", "V7", "two words", ""])
def test_an_alias_mlflow_reserves_or_refuses_makes_no_version(trained, tmp_path, alias):
    before = versions()
    with pytest.raises(SystemExit) as stopped:
        register(trained, tmp_path, "champion", alias)
    assert stopped.value.code == 2
    assert versions() == before
{%- if cookiecutter.server %}


def test_the_service_serves_a_registered_version_like_its_artifacts(exported, images, tmp_path):
    assert register(exported, tmp_path, "production") == 0
    number = str(client().get_model_version_by_alias(MODEL_NAME, "production").version)
    folder, version = fetch(f"models:/{MODEL_NAME}@production", MODEL_NAME, tmp_path / "cache")
    assert version == number
    assert fetch(f"models:/{MODEL_NAME}/{number}", MODEL_NAME, tmp_path / "cache")[0] == folder
    body = {"instances": images.tolist()}
    with (
        TestClient(create_app(folder, version=version)) as registered,
        TestClient(create_app(Path(exported.artifacts_dir))) as local,
    ):
        answer = registered.post(f"/v1/models/{MODEL_NAME}:predict", json=body)
        assert answer.status_code == 200
        np.testing.assert_allclose(
            answer.json()["predictions"], local.post("/predict", json=body).json()["predictions"]
        )
        assert registered.get("/healthz").json() == {
            "status": "ok",
            "model": MODEL_NAME,
            "version": version,
        }
        status = registered.get(f"/v1/models/{MODEL_NAME}").json()
        assert status["model_version_status"][0]["version"] == version
        assert registered.get(f"/v2/models/{MODEL_NAME}").json()["versions"] == [version]


def serve_registered(alias: str, cache: Path, *flags: str) -> subprocess.Popen:
    """``python -m ...serve --port 0 --model models:/NAME@ALIAS``, its output read here."""
    uri = f"models:/{MODEL_NAME}@{alias}"
    return subprocess.Popen(
        [
            sys.executable,
            *("-m", "{{ cookiecutter.package_name }}.serve", "--port", "0"),
            *("--model", uri, "--model-cache", str(cache), *flags),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_serve_says_which_version_an_alias_points_at(exported, tmp_path):
    assert register(exported, tmp_path, "staging") == 0
    number = str(client().get_model_version_by_alias(MODEL_NAME, "staging").version)
    service = serve_registered("staging", tmp_path / "cache", "--workers", "1")
    try:
        assert service.stdout is not None
        said = [service.stdout.readline() for _ in range(2)]  # before it says it serves
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=60)
    assert any("@staging" in line and re.search(rf"\b{number}\b", line) for line in said), said


@pytest.mark.parametrize(
    "uri",
    [
        f"models:/{MODEL_NAME}@nowhere",
        f"models:/{MODEL_NAME}/999",
        "models:/someone-else@production",
        "runs:/0123/model",
    ],
)
def test_serve_refuses_a_model_the_registry_does_not_have_in_one_line(
    exported, tmp_path, capsys, uri
):
    register(exported, tmp_path)  # the registered model exists, without that version
    capsys.readouterr()
    assert serve_main(["--model", uri, "--port", "0", "--model-cache", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and error.count("\n") == 1, error
    assert uri in error


def test_serve_takes_either_artifacts_or_a_registered_model(capsys):
    with pytest.raises(SystemExit) as stopped:
        serve_main(["--artifacts", "artifacts", "--model", f"models:/{MODEL_NAME}@production"])
    assert stopped.value.code == 2  # argparse's usage error: the two cannot go together


def damage_stored_copy(version: str, artifacts: Path) -> None:
    """Change one byte of the registry's copy of that version's server model."""
    stored = client().get_run(client().get_model_version(MODEL_NAME, version).run_id)
    folder = Path(urlparse(stored.info.artifact_uri).path) / "model"
    target = model_file(folder / server_artifact(artifacts)[0].name)
    target.write_bytes(one_byte_changed(target.read_bytes()))


def ask(url: str, images: np.ndarray, v2_input: str = "") -> tuple[int, str, np.ndarray | None]:
    """One request, v1, or v2 if given the input's name: its status, the version that
    answered (v2's model_version, v1's header), and the logits."""
    tensor = {"name": v2_input, "datatype": "FP32", "shape": list(images.shape)}
    path, body = (
        (f"/v2/models/{MODEL_NAME}/infer", {"inputs": [tensor | {"data": images.ravel().tolist()}]})
        if v2_input
        else (f"/v1/models/{MODEL_NAME}:predict", {"instances": images.tolist()})
    )
    request = urllib.request.Request(
        url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, "", None
    if v2_input:
        logits = next(out for out in answer["outputs"] if out["name"] == "logits")
        return 200, answer["model_version"], np.reshape(logits["data"], logits["shape"])
    return 200, response.headers["Model-Version"], np.array(answer["predictions"])


def wait_for(condition, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"not within {within} s"
        time.sleep(0.1)


@pytest.mark.slow  # trains a second model; two workers follow the alias
def test_the_service_follows_its_alias_without_a_failed_or_mixed_answer(exported, images, tmp_path):
    # Two versions that answer differently: the trained model, and one trained again.
    other = with_overrides(
        exported,
        seed=exported.seed + 1,
        epochs=1,
        run_dir=str(tmp_path / "runs"),
        artifacts_dir=str(tmp_path / "other"),
    )
    train(other)
    export(other)
    assert register(exported, tmp_path, "live") == 0
    first = str(client().get_model_version_by_alias(MODEL_NAME, "live").version)
    assert register(other, tmp_path) == 0
    second = str(int(first) + 1)
    expected = {}
    for version, config in ((first, exported), (second, other)):
        with TestClient(create_app(Path(config.artifacts_dir))) as local:
            answer = local.post("/predict", json={"instances": images[:2].tolist()})
            expected[version] = np.array(answer.json()["predictions"])
    assert not np.allclose(expected[first], expected[second], atol=1e-3)

    service = serve_registered("live", tmp_path / "cache", "--workers", "2", "--follow", "0.2")
    answers: list[tuple[float, int, str, np.ndarray | None]] = []
    stop = threading.Event()

    def keep_asking(v2_input: str) -> None:
        while not stop.is_set():
            sent = time.monotonic()
            answers.append((sent, *ask(url, images[:2], v2_input)))

    try:
        assert service.stdout is not None
        url = re.search(r"http://[\d.]+:\d+", service.stdout.readline())[0]
        wait_for(lambda: readiness(url)[0] == 200)  # each has loaded version 1: each will swap
        name = server_artifact(Path(exported.artifacts_dir))[1]["input"]["name"]
        clients = [threading.Thread(target=keep_asking, args=(name * (n % 2),)) for n in range(4)]
        for each in clients:
            each.start()
        wait_for(lambda: len(answers) >= 20)
        client().set_registered_model_alias(MODEL_NAME, "live", second)
        wait_for(lambda: metric_sample(url, "model_swaps_total") == 2)  # each worker swapped
        swapped = time.monotonic()
        wait_for(lambda: sum(sent > swapped for sent, *_ in list(answers)) >= 20)
        # A version whose stored copy differs from its manifest is never served.
        assert register(exported, tmp_path) == 0
        damage_stored_copy(str(int(second) + 1), Path(exported.artifacts_dir))
        client().set_registered_model_alias(MODEL_NAME, "live", str(int(second) + 1))
        wait_for(lambda: metric_sample(url, "model_versions_refused") == 1)
        refused = len(answers)
        wait_for(lambda: len(answers) >= refused + 20)  # still answered, by the same version
        stop.set()
        for each in clients:
            each.join()
        health = json.loads(urllib.request.urlopen(f"{url}/healthz", timeout=10).read())
        metadata = json.loads(urllib.request.urlopen(f"{url}/v2/models/{MODEL_NAME}").read())
        swaps = metric_sample(url, "model_swaps_total")
    finally:
        stop.set()
        service.send_signal(signal.SIGTERM)
        code = service.wait(timeout=60)
    assert code == 0
    assert {status for _, status, _, _ in answers} == {200}
    assert {version for _, _, version, _ in answers} == {first, second}
    for _, _, version, logits in answers:  # each answer wholly from the version it names
        np.testing.assert_allclose(logits, expected[version], atol=1e-4)
    assert all(version == second for sent, _, version, _ in answers if sent > swapped)
    # Allowed, and measured: a while in which one worker has swapped and the other not yet.
    moved = min(sent for sent, _, version, _ in answers if version == second)
    last_old = max((sent for sent, _, version, _ in answers if version == first), default=moved)
    print(f"both versions answered for {max(0.0, last_old - moved):.3f} s")
    assert health["version"] == second and metadata["versions"] == [second]
    assert swaps == 2
{%- endif %}
