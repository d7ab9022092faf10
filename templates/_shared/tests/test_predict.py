from pathlib import Path

import numpy as np
from PIL import Image

from {{ cookiecutter.package_name }}.data import load_splits
from {{ cookiecutter.package_name }}.predict import main, predict
from {{ cookiecutter.package_name }}.train import CHECKPOINT


def test_predict_reads_the_checkpoint_and_an_image(trained, tmp_path, capsys):
    test = load_splits(trained.data)["test"]
    image_path = tmp_path / "digit.png"
    Image.fromarray(test.images[0]).save(image_path)
    checkpoint = Path(trained.run_dir) / CHECKPOINT
    assert main([str(image_path), "--model", str(checkpoint)]) == 0
    assert "image 0:" in capsys.readouterr().out


def test_predict_matches_labels_on_the_test_split(trained):
    test = load_splits(trained.data)["test"]
    probabilities = predict(Path(trained.run_dir) / CHECKPOINT, test.images)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities.argmax(axis=1) == test.labels).mean() > 0.5


def test_predict_explains_a_missing_model(tmp_path, capsys):
    assert main([str(tmp_path / "none.npz"), "--model", str(tmp_path / "model.onnx")]) == 1
    assert "does not exist" in capsys.readouterr().err
