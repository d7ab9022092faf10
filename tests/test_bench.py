"""The benchmark harness runs end to end (quick mode), so it cannot rot between full runs."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_benchmarks_write_every_section(tmp_path):
    out = tmp_path / "RESULTS.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=1500,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    text = out.read_text()
    for title in (
        "1. Generation",
        "2. Start-up",
        "3. Time to a first deployable model",
        "4. Training throughput",
        "5. Inference of the exported artifacts",
    ):
        assert f"## {title}" in text
    assert "quick mode" in text
    assert len(re.findall(r"goal [≤≥] [\d.]+×: (met|\*\*missed\*\*)", text)) >= 6
    for model in ("model.onnx", "model.pte", "model.pt2", "model_int8.tflite", "saved_model"):
        assert f"`{model}`" in text


def test_one_section_is_measured_again_in_place(tmp_path):
    """`--only generation` needs no starter environment and keeps the other sections."""
    out = tmp_path / "RESULTS.md"
    out.write_text(
        "# Benchmarks\n\n## 1. Generation: the PyTorch starter\n\nold\n\n## 2. Start-up\n\nkept\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "generation", "--repeats", "1", "--out", out],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    text = out.read_text()
    assert "old" not in text and "## 2. Start-up\n\nkept\n" in text
    assert re.search(r"fwstart ÷ cookiecutter CLI, CPU time: \*\*[\d.]+×\*\*", text)
