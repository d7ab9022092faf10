"""What serves an export warns, naming the export and the checkpoint, when the checkpoint the
export came from was written again since (trained again); predict's side is in test_predict.py."""

{% if cookiecutter.web -%}
import json
{% endif -%}
{% if cookiecutter.server -%}
import re
{% endif -%}
import shutil
import signal
import subprocess
import sys
{%- if cookiecutter.server %}
import time
import urllib.error
import urllib.request
{%- endif %}
from pathlib import Path

{% if cookiecutter.web -%}
from {{ cookiecutter.package_name }} import lineage
{% endif -%}
from {{ cookiecutter.package_name }}.config import Config, with_overrides
{%- if cookiecutter.server %}
from {{ cookiecutter.package_name }}.export import export
{%- endif %}
from {{ cookiecutter.package_name }}.train import CHECKPOINT, train


def trained_copy(trained: Config, tmp_path: Path) -> Config:
    """A model trained (one epoch) in tmp_path, on a copy of the data: its config."""
    data = Path(shutil.copy(trained.data, tmp_path / "digits.npz"))
    config = with_overrides(
        trained,
        run_dir=str(tmp_path / "runs"),
        data=str(data),
        epochs=1,
        artifacts_dir=str(tmp_path / "artifacts"),
    )
    train(config)
    return config


def lines_naming(path: Path, text: str) -> list[str]:
    return [line for line in text.splitlines() if str(path) in line]
{%- if cookiecutter.server %}


def serve_stderr(artifacts: Path, errors: Path) -> str:
    """What ``serve --workers 2`` on the export writes to stderr until both workers have
    loaded the model (a worker that checked the export again would say so twice)."""
    with errors.open("w") as stderr:  # a file: a worker left behind would hold a pipe open
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
{%- if cookiecutter.monitoring %}
                "--sample-log",
                str(errors.parent / "traffic.jsonl"),
{%- endif %}
            ],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert service.stdout is not None
        url = re.search(r"http://[\d.]+:\d+", service.stdout.readline())  # its address
        assert url
        deadline = time.monotonic() + 120
        while not ready(url[0]):
            assert time.monotonic() < deadline and service.poll() is None, errors.read_text()
            time.sleep(0.2)
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=30) == 0
    finally:
        service.kill()
    return errors.read_text()


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def test_serve_warns_once_when_the_checkpoint_was_trained_again(trained, tmp_path):
    config = with_overrides(trained_copy(trained, tmp_path), targets=["server"])
    export(config)
    artifacts = Path(config.artifacts_dir)
    checkpoint = Path(config.run_dir) / CHECKPOINT
    assert lines_naming(checkpoint, serve_stderr(artifacts, tmp_path / "before.txt")) == []
    train(with_overrides(config, seed=config.seed + 1))  # the checkpoint is written again
    said = lines_naming(checkpoint, serve_stderr(artifacts, tmp_path / "after.txt"))
    assert len(said) == 1 and str(artifacts) in said[0], said  # the supervisor's, once
{%- endif %}
{%- if cookiecutter.web %}


def page_export(checkpoint: Path, data: Path, folder: Path) -> Path:
    """An export folder as the page server reads it (as in test_web.py: the page's model is
    not read here), with the checkpoint and data it came from."""
    folder.mkdir()
    (folder / "page-model.bin").write_bytes(b"weights")
    model = {
        "file": "page-model.bin",
        "targets": ["web"],
        "size_bytes": 7,
        "sha256": lineage.sha256(folder / "page-model.bin"),
    }
    manifest = {"artifacts": [model], "lineage": lineage.record(checkpoint, data)}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def page_stderr(artifacts: Path, folder: Path) -> str:
    """What ``python -m ...web`` on the export writes to stderr until it says where the page
    is. It runs in ``folder``, with a web/node_modules there as after ``npm ci``."""
    (folder / "web" / "node_modules").mkdir(parents=True, exist_ok=True)
    page = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "{{ cookiecutter.package_name }}.web",
            "--port",
            "0",
            "--artifacts",
            str(artifacts),
        ],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert page.stdout is not None
        assert page.stdout.readline()  # the page's address: the export was checked before
    finally:
        page.send_signal(signal.SIGTERM)
        _, errors = page.communicate(timeout=30)
    return errors


def test_the_page_server_warns_when_the_checkpoint_was_trained_again(trained, tmp_path):
    config = trained_copy(trained, tmp_path)
    checkpoint = Path(config.run_dir) / CHECKPOINT
    artifacts = page_export(checkpoint, Path(config.data), tmp_path / "artifacts")
    assert lines_naming(checkpoint, page_stderr(artifacts, tmp_path)) == []
    train(with_overrides(config, seed=config.seed + 1))  # the checkpoint is written again
    said = lines_naming(checkpoint, page_stderr(artifacts, tmp_path))
    assert len(said) == 1 and str(artifacts) in said[0], said
{%- endif %}
