"""The benchmark harness runs end to end (quick mode), so it cannot rot between full runs."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def bench(*args: str | Path, timeout: float) -> None:
    """`python -m bench ARGS` in the repository, which must succeed."""
    result = subprocess.run(
        [sys.executable, "-m", "bench", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-4000:]


@pytest.mark.slow
def test_quick_benchmarks_write_every_section(tmp_path):
    out = tmp_path / "RESULTS.md"
    bench("--quick", "--out", out, timeout=1500)
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
    bench("--only", "generation", "--repeats", "1", "--out", out, timeout=300)
    text = out.read_text()
    assert "old" not in text and "## 2. Start-up\n\nkept\n" in text
    assert re.search(r"fwstart ÷ cookiecutter CLI, CPU time: \*\*[\d.]+×\*\*", text)
