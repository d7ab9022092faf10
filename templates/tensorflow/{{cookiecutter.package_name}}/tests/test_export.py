{%- set targets = [] -%}
{%- for t in ["mobile", "web", "edge", "server"] if cookiecutter[t] %}{% set _ = targets.append(t) %}{% endfor -%}
{% if targets -%}
"""Every chosen target's artifacts are written, reloaded in their runtime and compared."""
{%- else -%}
"""Export explains what it needs (this project has no deployment target to export for)."""
{%- endif %}
{% if targets %}
import json
{%- if cookiecutter.mobile or cookiecutter.edge %}
import sys
{%- endif %}
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.config import TARGETS, with_overrides
from {{ cookiecutter.package_name }}.data import load_splits
from {{ cookiecutter.package_name }}.export import MIN_TOP1_AGREEMENT, TARGET_FORMATS, export, main
from {{ cookiecutter.package_name }}.predict import main as predict_main
from {{ cookiecutter.package_name }}.predict import predict
from {{ cookiecutter.package_name }}.train import CHECKPOINT
{%- else %}
import pytest

from {{ cookiecutter.package_name }}.config import TARGETS
from {{ cookiecutter.package_name }}.export import TARGET_FORMATS, main
{%- endif %}

from .conftest import ROOT
{%- if targets %}


def chosen_targets():
    from {{ cookiecutter.package_name }}.config import load_config

    return load_config(ROOT / "configs" / "default.yaml").targets


@pytest.mark.parametrize("target", chosen_targets())
def test_target_exports_and_verifies(trained, target, tmp_path):
    config = with_overrides(trained, targets=[target], artifacts_dir=str(tmp_path))
    manifest = export(config)
    assert [entry["format"] for entry in manifest["artifacts"]] == TARGET_FORMATS[target]
    for entry in manifest["artifacts"]:
        assert (tmp_path / entry["file"]).exists()
        assert entry["verified"], f"{entry['file']} was not run in any runtime"
        for check in entry["verified"]:
            assert check["ok"] and check["samples"] > 15
            assert check["top1_agreement"] >= MIN_TOP1_AGREEMENT[entry["precision"]]
            if entry["precision"] == "float32":
                assert check["max_abs_diff"] < 1e-4
    assert json.loads((tmp_path / "manifest.json").read_text()) == manifest


def test_each_artifact_predicts_like_the_model(trained, tmp_path, capsys):
    config = with_overrides(trained, artifacts_dir=str(tmp_path))
    manifest = export(config)
    test = load_splits(trained.data)["test"]
    expected = predict(Path(trained.run_dir) / CHECKPOINT, test.images).argmax(axis=1)
    for entry in manifest["artifacts"]:
        predicted = predict(tmp_path / entry["file"], test.images).argmax(axis=1)
        assert (predicted == expected).mean() >= MIN_TOP1_AGREEMENT[entry["precision"]]
    # The command reads the input size and class names from the manifest beside the file.
    first = manifest["artifacts"][0]["file"]
    assert predict_main([trained.data, "--model", str(tmp_path / first), "--limit", "1"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("image"))
    assert line.split()[2] in manifest["classes"], line
{%- endif %}{%- if cookiecutter.mobile or cookiecutter.edge %}


def test_a_package_that_is_not_installed_is_one_line(trained, tmp_path, monkeypatch, capsys):
    # As if it had never been installed: its modules already imported by other tests too.
    imported = [name for name in sys.modules if name.startswith("ai_edge_litert.")]
    for name in ["ai_edge_litert", *imported]:
        monkeypatch.setitem(sys.modules, name, None)
    (tmp_path / "default.yaml").write_text((ROOT / "configs" / "default.yaml").read_text())
    (tmp_path / "mine.yaml").write_text(f"data: {trained.data}\nrun_dir: {trained.run_dir}\n"
                                        f"artifacts_dir: {tmp_path / 'out'}\n")
    target = "{{ 'mobile' if cookiecutter.mobile else 'edge' }}"
    code = main(["--config", str(tmp_path / "mine.yaml"), "--target", target])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert "ai_edge_litert" in err and 'pip install -e ".[dev]"' in err
{%- endif %}


@pytest.mark.parametrize("target", TARGETS)
def test_export_explains_a_missing_checkpoint_or_a_target_not_made_for(target, tmp_path, capsys):
    (tmp_path / "default.yaml").write_text((ROOT / "configs" / "default.yaml").read_text())
    (tmp_path / "elsewhere.yaml").write_text(f"run_dir: {tmp_path / 'runs'}\n")
    code = main(["--config", str(tmp_path / "elsewhere.yaml"), "--target", target])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1
    if target in TARGET_FORMATS:  # it names the checkpoint it looked for
        assert str(tmp_path / "runs") in err
    else:  # and the command that adds the target
        assert f"--add-target {target}" in err
