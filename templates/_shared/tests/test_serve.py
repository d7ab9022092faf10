"""The HTTP service answers in TF Serving's REST shape and refuses malformed requests."""

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from {{ cookiecutter.package_name }}.config import with_overrides
from {{ cookiecutter.package_name }}.data import as_model_input, load_splits
from {{ cookiecutter.package_name }}.export import export
from {{ cookiecutter.package_name }}.predict import predict
from {{ cookiecutter.package_name }}.serve import create_app
from {{ cookiecutter.package_name }}.train import CHECKPOINT


@pytest.fixture(scope="module")
def client(trained, tmp_path_factory):
    artifacts = tmp_path_factory.mktemp("served")
    export(with_overrides(trained, targets=["server"], artifacts_dir=str(artifacts)))
    return TestClient(create_app(artifacts))


def test_predictions_match_the_model(client, trained):
    images = load_splits(trained.data)["test"].images[:16]
    response = client.post("/predict", json={"instances": as_model_input(images).tolist()})
    assert response.status_code == 200
    logits = np.asarray(response.json()["predictions"])
    expected = predict(Path(trained.run_dir) / CHECKPOINT, images)
    assert logits.shape == expected.shape
    assert (logits.argmax(axis=1) == expected.argmax(axis=1)).all()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b'{"inputs": []}', '"instances" list'),
        (b'{"instances": []}', "1 to 1024 images"),
        (b'{"instances": [[1, 2], [3]]}', "numbers in the shape"),
        (b'{"instances": [[[1, 2]]]}', "must have the shape"),
        (b'{"instances": "pixels"}', '"instances" must be a list'),
    ],
)
def test_malformed_requests_get_a_clear_400(client, body, message):
    response = client.post("/predict", content=body)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_out_of_range_pixels_are_refused(client, trained):
    images = as_model_input(load_splits(trained.data)["test"].images[:1]) + 300
    response = client.post("/predict", json={"instances": images.tolist()})
    assert response.status_code == 400 and "0 to 255" in response.json()["error"]


def test_health_and_metrics(client):
    assert client.get("/healthz").json()["status"] == "ok"
    metrics = client.get("/metrics").text
    assert "request_latency_seconds_bucket" in metrics
    assert 'requests_total{endpoint="/predict",status="400"}' in metrics
