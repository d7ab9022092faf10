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
