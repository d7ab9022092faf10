{%- set targets = cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server -%}
{% if targets -%}
import shutil
{% endif -%}
from pathlib import Path

import numpy as np
from PIL import Image

{% if targets -%}
from {{ cookiecutter.package_name }}.config import with_overrides
{% endif -%}
from {{ cookiecutter.package_name }}.data import load_splits
{%- if targets %}
from {{ cookiecutter.package_name }}.export import TARGET_FORMATS, export
{%- endif %}
from {{ cookiecutter.package_name }}.predict import main, predict
from {{ cookiecutter.package_name }}.train import CHECKPOINT{{ ", train" if targets else "" }}

from .conftest import ROOT


def test_predict_reads_the_checkpoint_and_an_image(trained, tmp_path, capsys):
    test = load_splits(trained.data)["test"]
    image_path = tmp_path / "digit.png"
    Image.fromarray(test.images[0, :, :, 0]).save(image_path)
    checkpoint = Path(trained.run_dir) / CHECKPOINT
    assert main([str(image_path), "--model", str(checkpoint)]) == 0
    assert "image 0:" in capsys.readouterr().out


def test_predict_matches_labels_on_the_test_split(trained):
    test = load_splits(trained.data)["test"]
    probabilities = predict(Path(trained.run_dir) / CHECKPOINT, test.images)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities.argmax(axis=1) == test.labels).mean() > 0.5


def test_predict_explains_a_missing_model(tmp_path, capsys):
    missing = tmp_path / {{ '"model.onnx"' if targets else "CHECKPOINT" }}
    assert main([str(tmp_path / "none.npz"), "--model", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(missing) in err
{%- if targets %}


def test_a_damaged_manifest_is_named(trained, tmp_path, capsys):
    model = tmp_path / CHECKPOINT
    model.write_bytes((Path(trained.run_dir) / CHECKPOINT).read_bytes())
    (tmp_path / "manifest.json").write_text("{bad")
    assert main([trained.data, "--model", str(model)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(tmp_path / "manifest.json") in err
{%- else %}


def test_a_file_that_is_not_a_checkpoint_is_named(trained, tmp_path, capsys):
    other = tmp_path / "model.bin"
    other.write_bytes((Path(trained.run_dir) / CHECKPOINT).read_bytes())
    assert main([trained.data, "--model", str(other)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(other) in err
{%- endif %}


def test_an_image_is_resized_to_the_models_input_and_classes_are_named(
    folder_run, tmp_path, capsys
):
    config = folder_run
    image_path = tmp_path / "digit.png"  # 8x8, for a model trained on 48x48 images
    digit = load_splits(ROOT / "data" / "digits.npz")["test"].images[0, :, :, 0]
    Image.fromarray(digit).save(image_path)
    assert main([str(image_path), "--model", str(Path(config.run_dir) / CHECKPOINT)]) == 0
    first = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("image"))
    assert first.split()[2] in ("zero", "one", "two"), first


def test_arrays_of_another_size_than_the_model_are_refused(folder_run, capsys):
    config = folder_run
    data = ROOT / "data" / "digits.npz"
    assert main([str(data), "--model", str(Path(config.run_dir) / CHECKPOINT)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "(48, 48, 1)" in err  # the shape the model takes


def test_a_folder_is_not_an_image_and_the_message_says_what_to_pass(trained, tmp_path, capsys):
    assert main([str(tmp_path), "--model", str(Path(trained.run_dir) / CHECKPOINT)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(tmp_path) in err
{%- if targets %}


def test_predict_warns_when_the_checkpoint_or_its_data_changed_since_the_export(
    trained, tmp_path, capsys
):
    run_dir, data = tmp_path / "runs", Path(shutil.copy(trained.data, tmp_path / "digits.npz"))
    target = next(name for name in ("server", "edge", "mobile", "web") if name in TARGET_FORMATS)
    config = with_overrides(
        trained,
        run_dir=str(run_dir),
        data=str(data),
        targets=[target],
        artifacts_dir=str(tmp_path / "artifacts"),
        epochs=1,
    )
    train(config)
    model = tmp_path / "artifacts" / export(config)["artifacts"][0]["file"]
    image = tmp_path / "digit.png"
    Image.fromarray(load_splits(data)["test"].images[0, :, :, 0]).save(image)

    def warnings() -> str:
        assert main([str(image), "--model", str(model)]) == 0  # a warning, not a refusal
        return capsys.readouterr().err

    checkpoint, export_folder = str(run_dir / CHECKPOINT), str(tmp_path / "artifacts")
    assert checkpoint not in warnings()
    with np.load(data) as arrays:  # the data changes: other images, in another order
        changed = {name: arrays[name][::-1] for name in arrays.files}
    np.savez(data, **changed)
    said = warnings()
    assert str(data) in said and export_folder in said and checkpoint not in said
    train(with_overrides(config, seed=config.seed + 1))  # trained again
    said = warnings()
    assert checkpoint in said and export_folder in said
{%- endif %}
