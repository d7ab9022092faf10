{%- import "framework.j2" as framework -%}
"""The edge runner, deploy/edge/run.py, copied as the README says: what photos need is one line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

# deploy/edge/run.py on a photo, with Pillow hidden as on a device that lacks it.
WITHOUT_PILLOW = """
import runpy, sys
sys.modules["PIL"] = None  # import PIL now fails, as where Pillow is not installed
sys.path.insert(0, ".")
sys.argv = ["run.py", *sys.argv[1:]]
runpy.run_path("run.py", run_name="__main__")
"""


@pytest.mark.parametrize(
    ("copied", "pillow"), [(["run.py"], True), (["run.py", "images.py"], False)]
)
def test_the_edge_runner_says_in_one_line_what_photos_need(tmp_path, copied, pillow):
    edge = Path(__file__).resolve().parents[1] / "deploy" / "edge"
    for name in copied:
        (tmp_path / name).write_bytes((edge / name).read_bytes())
    manifest = {"image_size": 8, "channels": 1, "input": {"layout": "NHWC"}, "classes": ["a"]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    model = "model{{ framework.edge_model_kind.split()[-1] }}"
    (tmp_path / model).write_bytes(b"")  # never loaded: the photo is read first
    Image.new("RGB", (20, 20)).save(tmp_path / "photo.png")
    command = ["run.py", model, "photo.png"]
    command = [sys.executable, *(command if pillow else ["-c", WITHOUT_PILLOW, *command[1:]])]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
