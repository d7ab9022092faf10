"""The Open Inference Protocol as its standard client speaks it by default (the binary tensor
data extension) and as plain JSON; each row's label beside its logits in both protocols; the
served version in the paths."""

import json
import signal
import struct

import numpy as np
import pytest
import tritonclient.http as tritonclient
from fastapi.testclient import TestClient
from tritonclient.utils import InferenceServerException

from {{ cookiecutter.package_name }}.model_server import Settings
from {{ cookiecutter.package_name }}.serve import MODEL_NAME, create_app

from .test_serve import INFER, PREDICT, expected_logits, start, v2_request

HEADER = "Inference-Header-Content-Length"
MODEL = f"/v2/models/{MODEL_NAME}"


@pytest.fixture(scope="module")
def client(artifacts):
    with TestClient(create_app(artifacts)) as client:
        yield client


@pytest.fixture(scope="module")
def triton(artifacts):
    """tritonclient's HTTP client, talking to ``python -m ...serve``."""
    process, url = start(artifacts)
    yield tritonclient.InferenceServerClient(url=url.removeprefix("http://"))
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


@pytest.fixture(scope="module")
def metadata(client) -> dict:
    return client.get(MODEL).json()


def labels_of(logits: np.ndarray, classes: list[str]) -> list[str]:
    return [classes[row] for row in np.argmax(logits, axis=1)]


def binary_request(images: np.ndarray, **fields: object) -> tuple[bytes, dict]:
    """A body of the binary tensor data extension: JSON, then the pixels' bytes."""
    pixels = images.astype("<f4").tobytes()
    head = json.dumps(
        {
            "inputs": [
                {
                    "name": "pixels",
                    "datatype": "FP32",
                    "shape": list(images.shape),
                    "parameters": {"binary_data_size": len(pixels)},
                }
            ],
            **fields,
        }
    ).encode()
    return head + pixels, {HEADER: str(len(head))}


def bytes_elements(data: bytes) -> list[str]:
    """A BYTES tensor's elements: each a 4-byte little-endian length, then the bytes."""
    elements, start = [], 0
    while start < len(data):
        (length,) = struct.unpack_from("<I", data, start)
        elements.append(data[start + 4 : start + 4 + length].decode())
        start += 4 + length
    return elements


def test_tritonclient_with_its_defaults_gets_logits_and_labels(
    triton, client, artifacts, images, metadata
):
    expected = triton.get_model_metadata(MODEL_NAME)["inputs"][0]
    given = tritonclient.InferInput(expected["name"], list(images.shape), expected["datatype"])
    given.set_data_from_numpy(images)  # binary tensor data: the client's default
    result = triton.infer(MODEL_NAME, [given])  # no outputs named: all, binary (its default)
    logits, labels = result.as_numpy("logits"), result.as_numpy("label")
    np.testing.assert_allclose(logits, expected_logits(artifacts, images), atol=1e-4)
    assert [label.decode() for label in labels] == labels_of(logits, metadata["classes"])
    v1 = client.post(PREDICT, json={"instances": images.tolist()}).json()
    assert logits.tolist() == v1["predictions"]
    assert [label.decode() for label in labels] == v1["labels"]
    assert "binary_tensor_data" in triton.get_server_metadata()["extensions"]


@pytest.mark.parametrize("binary_input", [True, False])
@pytest.mark.parametrize("binary_output", [True, False])
def test_tritonclient_gets_the_outputs_it_names_in_the_form_it_asks(
    triton, images, metadata, binary_input, binary_output
):
    given = tritonclient.InferInput("pixels", list(images.shape), "FP32")
    given.set_data_from_numpy(images, binary_data=binary_input)
    wanted = tritonclient.InferRequestedOutput("label", binary_data=binary_output)
    result = triton.infer(MODEL_NAME, [given], outputs=[wanted])
    assert result.as_numpy("logits") is None  # not asked for
    every = triton.infer(MODEL_NAME, [given]).as_numpy("logits")
    labels = [
        label.decode() if isinstance(label, bytes) else label for label in result.as_numpy("label")
    ]
    assert labels == labels_of(every, metadata["classes"])


def test_tritonclient_may_name_the_served_version_and_no_other(triton, images, metadata):
    served = metadata["versions"][0]
    given = tritonclient.InferInput("pixels", list(images.shape), "FP32")
    given.set_data_from_numpy(images)
    assert triton.is_model_ready(MODEL_NAME, served)
    assert triton.get_model_metadata(MODEL_NAME, served)["versions"] == [served]
    answer = triton.infer(MODEL_NAME, [given], model_version=served).as_numpy("logits")
    assert answer.tolist() == triton.infer(MODEL_NAME, [given]).as_numpy("logits").tolist()
    with pytest.raises(InferenceServerException) as refused:
        triton.infer(MODEL_NAME, [given], model_version=served + "0")
    assert refused.value.status() == "404" and served in refused.value.message()


def test_a_binary_request_gets_the_outputs_it_asks_for_as_binary(client, images, metadata):
    body, headers = binary_request(
        images, outputs=[{"name": "label", "parameters": {"binary_data": True}}, {"name": "logits"}]
    )
    answer = client.post(INFER, content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/octet-stream"
    length = int(answer.headers[HEADER])
    document, tail = json.loads(answer.content[:length]), answer.content[length:]
    label, logits = document["outputs"]
    assert (label["name"], label["datatype"], label["shape"]) == ("label", "BYTES", [len(images)])
    assert label["parameters"]["binary_data_size"] == len(tail) and "data" not in label
    rows = np.reshape(logits["data"], logits["shape"])
    assert bytes_elements(tail) == labels_of(rows, metadata["classes"])
    json_answer = client.post(INFER, json=v2_request(images)).json()
    assert json_answer["outputs"][0]["data"] == logits["data"]


def test_every_row_carries_its_label_in_both_protocols(client, images, metadata, artifacts):
    manifest = json.loads((artifacts / "manifest.json").read_text())
    assert metadata["classes"] == manifest["classes"]
    assert {"name": "label", "datatype": "BYTES", "shape": [-1]} in metadata["outputs"]
    v1 = client.post(PREDICT, json={"instances": images.tolist()}).json()
    assert v1["labels"] == labels_of(np.asarray(v1["predictions"]), metadata["classes"])
    outputs = client.post(INFER, json=v2_request(images)).json()["outputs"]
    assert [(output["name"], output["datatype"], output["shape"]) for output in outputs] == [
        ("logits", "FP32", [len(images), len(metadata["classes"])]),
        ("label", "BYTES", [len(images)]),
    ]
    assert outputs[1]["data"] == v1["labels"]
    only = client.post(INFER, json={**v2_request(images), "outputs": [{"name": "label"}]})
    assert [output["name"] for output in only.json()["outputs"]] == ["label"]


def boolean_channel(body: dict) -> None:
    shape = body["inputs"][0]["shape"]
    shape[shape.index(1, 1)] = True  # these images' one channel: True == 1 in Python


@pytest.mark.parametrize(
    "change",
    [
        lambda body: body.update(outputs=[{"name": "probabilities"}]),
        lambda body: body["inputs"][0].update(shape=[True, *body["inputs"][0]["shape"][1:]]),
        boolean_channel,
        lambda body: body.update(parameters={"binary_data_output": "yes"}),
    ],
    ids=["unknown output", "boolean batch", "boolean channel", "binary_data_output not bool"],
)
def test_unknown_outputs_and_booleans_in_shapes_are_refused(client, images, change):
    body = v2_request(images[:1])
    change(body)
    answer = client.post(INFER, json=body)
    assert answer.status_code == 400 and answer.json()["error"], answer.text


@pytest.mark.parametrize(
    "spoil",
    [
        lambda body, headers: (body, {HEADER: "many"}),
        lambda body, headers: (body, {HEADER: str(len(body) + 1)}),
        lambda body, headers: (body[:-4], headers),  # binary_data_size says more than follows
        lambda body, headers: (body + b"\0" * 4, headers),
        lambda body, headers: (body, {HEADER: str(len(body))}),  # all JSON: not valid JSON
        lambda body, headers: (body[:-4] + np.float32("nan").tobytes(), headers),
        lambda body, headers: (body[:-4] + np.float32(256).tobytes(), headers),
    ],
    ids=[
        "header not a number",
        "header past the body",
        "short",
        "long",
        "no binary part",
        "NaN pixel",
        "pixel over 255",
    ],
)
def test_binary_bodies_that_do_not_add_up_get_a_clear_400(client, images, spoil):
    body, headers = spoil(*binary_request(images[:2]))
    answer = client.post(INFER, content=body, headers=headers)
    assert answer.status_code == 400 and answer.json()["error"], answer.text


def test_binary_data_beside_json_data_is_refused(client, images):
    body, headers = binary_request(images[:1])
    head = json.loads(body[: int(headers[HEADER])])
    head["inputs"][0]["data"] = images[:1].ravel().tolist()
    spoiled = json.dumps(head).encode()
    answer = client.post(
        INFER, content=spoiled + body[int(headers[HEADER]) :], headers={HEADER: str(len(spoiled))}
    )
    assert answer.status_code == 400 and answer.json()["error"]


def test_a_binary_body_over_the_limit_gets_413(artifacts, images):
    body, headers = binary_request(images)
    with (
        TestClient(create_app(artifacts, Settings(max_body_bytes=len(body) - 1))) as small,
        TestClient(create_app(artifacts, Settings(max_body_bytes=len(body)))) as enough,
    ):
        assert small.post(INFER, content=body, headers=headers).status_code == 413
        assert enough.post(INFER, content=body, headers=headers).status_code == 200


def versioned(version: str, images: np.ndarray) -> list[tuple[str, str, dict | None]]:
    """Each endpoint of the model under this version: method, path, JSON body."""
    prefix, v1 = f"{MODEL}/versions/{version}", f"/v1/models/{MODEL_NAME}/versions/{version}"
    return [
        ("GET", prefix, None),
        ("GET", f"{prefix}/ready", None),
        ("GET", v1, None),
        ("POST", f"{prefix}/infer", v2_request(images)),
        ("POST", f"{v1}:predict", {"instances": images.tolist()}),
    ]


def test_the_served_version_answers_in_every_path_and_no_other(client, images, metadata):
    served = metadata["versions"][0]
    for version, status in ((served, 200), (served + "0", 404), ("latest", 404)):
        for method, path, body in versioned(version, images):
            answer = client.request(method, path, json=body)
            assert answer.status_code == status, (path, answer.text)
            assert status == 200 or served in answer.json()["error"]
    method, path, body = versioned(served, images)[-1]
    assert client.post(path, json=body).json() == client.post(PREDICT, json=body).json()


def test_openapi_documents_binary_bodies_labels_and_versions(client):
    paths = client.get("/openapi.json").json()["paths"]
    templates = [path for _, path, _ in versioned("{version}", np.zeros(0))]
    assert set(templates) <= set(paths)
    infer = paths[INFER]["post"]
    assert "application/octet-stream" in infer["requestBody"]["content"]
    assert "application/octet-stream" in infer["responses"]["200"]["content"]
    assert HEADER in infer["responses"]["200"]["headers"]
    predicted = paths[PREDICT]["post"]["responses"]["200"]["content"]["application/json"]
    assert "labels" in predicted["schema"]["required"]
    for path in templates:
        operation = next(iter(paths[path].values()))
        assert "404" in operation["responses"]
        assert [parameter["name"] for parameter in operation["parameters"]] == ["version"]
