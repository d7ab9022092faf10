"""The page's server hands out what the page needs, to this machine only, and nothing else."""

import json
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from {{ cookiecutter.package_name }}.web import main, make_server

from .conftest import ROOT


@pytest.fixture(scope="module")
def page_url(tmp_path_factory):
    artifacts = tmp_path_factory.mktemp("artifacts")
    manifest = {"artifacts": [{"file": "page-model.bin", "targets": ["web"]},
                              {"file": "server-model.bin", "targets": ["server"]}]}
    (artifacts / "manifest.json").write_text(json.dumps(manifest))
    for name in ("page-model.bin", "server-model.bin"):
        (artifacts / name).write_bytes(b"weights")
    server = make_server(0, ROOT / "web", artifacts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.parametrize("path", ["/", "/digits.js", "/model.js", "/style.css",
                                  "/artifacts/manifest.json", "/artifacts/page-model.bin"])
def test_the_page_and_its_model_are_served(page_url, path):
    assert status(page_url + path) == 200


@pytest.mark.parametrize("path", ["/pyproject.toml", "/web/index.html", "/package.json",
                                  "/verify.mjs", "/artifacts/server-model.bin",
                                  "/artifacts/../pyproject.toml", "/%2e%2e/pyproject.toml",
                                  "/.venv/bin/python", "/node_modules/", "/artifacts/"])
def test_nothing_else_is_served(page_url, path):
    assert status(page_url + path) == 404


def test_a_taken_port_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    (tmp_path / "manifest.json").write_text("{}")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["--port", str(port), "--artifacts", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and f"127.0.0.1:{port} (in use)" in err


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_a_port_out_of_range_is_a_usage_error(port, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--port", port])
    assert exited.value.code == 2
    assert "is not a port: give 0-65535" in capsys.readouterr().err


def test_the_page_server_imports_no_framework():
    code = "import sys, {{ cookiecutter.package_name }}.web; print(*sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert {name.split(".")[0] for name in loaded} & {"tensorflow", "keras", "torch"} == set()
