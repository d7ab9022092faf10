"""The page's server hands out what the page needs, to this machine only, and nothing else;
the page's JavaScript prepares an image exactly as images.py does."""

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from {{ cookiecutter.package_name }}.images import prepare
from {{ cookiecutter.package_name }}.web import main, make_server, page_file

from .conftest import ROOT
from .web_runtime import NOT_SERVED, SERVED


@pytest.fixture(scope="module")
def page_url(tmp_path_factory):
    artifacts = tmp_path_factory.mktemp("artifacts")
    manifest = {
        "artifacts": [
            {"file": "page-model.bin", "targets": ["web"]},
            {"file": "server-model.bin", "targets": ["server"]},
        ]
    }
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


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/digits.js",
        "/preprocess.js",
        "/model.js",
        "/style.css",
        "/artifacts/manifest.json",
        "/artifacts/page-model.bin",
    ],
)
def test_the_page_and_its_model_are_served(page_url, path):
    assert status(page_url + path) == 200


@pytest.mark.parametrize(
    "path",
    [
        "/pyproject.toml",
        "/web/index.html",
        "/package.json",
        "/verify.mjs",
        "/artifacts/server-model.bin",
        "/artifacts/../pyproject.toml",
        "/%2e%2e/pyproject.toml",
        "/.venv/bin/python",
        "/node_modules/",
        "/artifacts/",
    ],
)
def test_nothing_else_is_served(page_url, path):
    assert status(page_url + path) == 404


def fetch(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), b""


def test_a_cached_page_is_used_only_while_its_bytes_are_the_same(page_url, tmp_path):
    # Another project's page on the same port: same file names, other bytes, older dates.
    status_code, first, body = fetch(f"{page_url}/digits.js", {})
    assert status_code == 200 and "no-cache" in first["Cache-Control"]
    cached = {
        "If-None-Match": first["ETag"],
        "If-Modified-Since": first.get("Last-Modified", "Sat, 01 Jan 2100 00:00:00 GMT"),
    }
    assert fetch(f"{page_url}/digits.js", cached)[0] == 304
    other = tmp_path / "web"
    other.mkdir()
    for name in ("index.html", "digits.js", "preprocess.js", "model.js", "style.css"):
        (other / name).write_bytes((ROOT / "web" / name).read_bytes())
    (other / "digits.js").write_bytes(body + b"\n// another project\n")
    os.utime(other / "digits.js", (0, 0))
    server = make_server(0, other, tmp_path)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/digits.js"
        status_code, _, served = fetch(url, cached)
    finally:
        server.shutdown()
        server.server_close()
    assert status_code == 200 and served == (other / "digits.js").read_bytes()


def test_a_taken_port_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    (tmp_path / "manifest.json").write_text("{}")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["--port", str(port), "--artifacts", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and f"127.0.0.1:{port}" in err


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_a_port_out_of_range_is_a_usage_error(port, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--port", port])
    assert exited.value.code == 2
    assert port in capsys.readouterr().err


def test_the_page_server_imports_no_framework():
    code = "import sys, {{ cookiecutter.package_name }}.web; print(*sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert {name.split(".")[0] for name in loaded} & {"tensorflow", "keras", "torch"} == set()


# web/preprocess.js in Node.js: RGBA pixels in, the model's input out (JSON on stdin and stdout).
PREPARE = """
import { toModelInput } from "./web/preprocess.js";
let text = "";
for await (const chunk of process.stdin) text += chunk;
const prepared = JSON.parse(text).map(({ rgba, width, height, spec }) =>
  Array.from(toModelInput({ data: Uint8ClampedArray.from(rgba), width, height }, spec)));
console.log(JSON.stringify(prepared));
"""


def python_input(rgb: np.ndarray, size: int, channels: int, layout: str) -> np.ndarray:
    """What images.py makes of the same pixels, in the model's layout."""
    pixels = prepare(Image.fromarray(rgb), size, channels)
    return pixels.transpose(2, 0, 1) if layout == "NCHW" else pixels


def test_the_page_prepares_images_as_python_does():
    node = shutil.which("node")
    assert node, "the web page's tests need Node.js 20+ (see README)"
    rng = np.random.default_rng(0)
    shapes = [
        (23, 37, 8, 1, "NHWC"),
        (300, 400, 96, 3, "NHWC"),
        (90, 50, 96, 3, "NCHW"),
        (8, 8, 8, 1, "NCHW"),
        (61, 61, 224, 3, "NHWC"),
        (5, 700, 3, 1, "NHWC"),
    ]
    cases, expected = [], []
    for height, width, size, channels, layout in shapes:
        rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        rgba = np.dstack([rgb, np.full((height, width), 255, np.uint8)])
        cases.append(
            {
                "rgba": rgba.ravel().tolist(),
                "width": width,
                "height": height,
                "spec": {"size": size, "channels": channels, "layout": layout},
            }
        )
        expected.append(python_input(rgb, size, channels, layout).ravel())
    result = subprocess.run(
        [node, "--input-type=module", "-e", PREPARE],
        cwd=ROOT,
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
    )
    for case, page, python in zip(cases, json.loads(result.stdout), expected, strict=True):
        np.testing.assert_array_equal(np.asarray(page), python, err_msg=str(case["spec"]))


# What the page draws on its pad after an upload: the model's input as RGBA pixels.
SEES = """
import { toModelInput, toRgba } from "./web/preprocess.js";
let text = "";
for await (const chunk of process.stdin) text += chunk;
const shown = JSON.parse(text).map(({ rgba, width, height, spec }) => Array.from(
  toRgba(toModelInput({ data: Uint8ClampedArray.from(rgba), width, height }, spec), spec)));
console.log(JSON.stringify(shown));
"""


@pytest.mark.parametrize("channels, layout", [(1, "NCHW"), (1, "NHWC"), (3, "NCHW"), (3, "NHWC")])
def test_the_page_shows_the_image_the_model_sees(channels, layout):
    node = shutil.which("node")
    assert node, "the web page's tests need Node.js 20+ (see README)"
    rgb = np.random.default_rng(1).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    rgba = np.dstack([rgb, np.full((50, 70), 255, np.uint8)])
    case = {
        "rgba": rgba.ravel().tolist(),
        "width": 70,
        "height": 50,
        "spec": {"size": 16, "channels": channels, "layout": layout},
    }
    result = subprocess.run(
        [node, "--input-type=module", "-e", SEES],
        cwd=ROOT,
        input=json.dumps([case]),
        capture_output=True,
        text=True,
        check=True,
    )
    shown = np.asarray(json.loads(result.stdout)[0], np.uint8).reshape(16, 16, 4)
    seen = prepare(Image.fromarray(rgb), 16, channels)  # (16, 16, channels), as Python sees it
    np.testing.assert_array_equal(shown[..., :3], np.broadcast_to(seen, (16, 16, 3)))
    assert (shown[..., 3] == 255).all()


def test_only_the_runtime_files_the_page_loads_are_served(tmp_path):
    for path in SERVED + NOT_SERVED:
        file = tmp_path / "node_modules" / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(b"runtime")
    served = {
        path
        for path in SERVED + NOT_SERVED
        if page_file(f"/node_modules/{path}", tmp_path, tmp_path)
    }
    assert served == set(SERVED)
