"""The Kubernetes manifests are valid offline: the core objects with kubernetes-validate, the
InferenceService against KServe's own CRD schema (vendored at a pinned version), each named
as the service names its model."""

import copy
import gzip
import json
import re
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jsonschema
import kubernetes_validate
import numpy as np
import pytest
import yaml

from {{ cookiecutter.package_name }}.model_server import Settings
from {{ cookiecutter.package_name }}.serve import MODEL_NAME
from {{ cookiecutter.package_name }}.stopping import DRAIN_SECONDS

from .conftest import ROOT
from .test_serve import PREDICT, post, resident_megabytes, start

KUBERNETES = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.33"  # a cluster version kubernetes-validate ships schemas for
KSERVE_SCHEMA = KUBERNETES / "schemas" / "inferenceservice-v1beta1-kserve-v0.20.0.json.gz"


def manifest(name: str) -> dict:
    return yaml.safe_load((KUBERNETES / name).read_text())


def test_the_model_name_is_dns_1123_safe():
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", MODEL_NAME) and len(MODEL_NAME) <= 63


@pytest.mark.parametrize("name", ["deployment.yaml", "service.yaml", "hpa.yaml"])
def test_core_objects_are_valid(name):
    document = manifest(name)
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    assert document["metadata"]["name"] == MODEL_NAME


def test_the_deployment_probes_and_confines_the_service():
    pod = manifest("deployment.yaml")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    writable = {volume["name"] for volume in pod["volumes"] if "emptyDir" in volume}
    assert {mount["name"] for mount in container["volumeMounts"]} <= writable
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_a_stopping_pod_has_time_to_answer_what_it_accepted():
    pod = manifest("deployment.yaml")["spec"]["template"]["spec"]
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pre_stop >= 5  # for endpoints, kube-proxy and ingresses to stop sending it traffic
    # Then SIGTERM: the drain, and uvicorn's graceful shutdown (twice serve's --timeout).
    needed = pre_stop + DRAIN_SECONDS + 2 * Settings().timeout
    assert pod["terminationGracePeriodSeconds"] >= needed


def test_a_broken_core_object_is_refused():
    document = manifest("deployment.yaml")
    document["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_inference_service_matches_kserve_s_schema():
    schema = json.loads(gzip.decompress(KSERVE_SCHEMA.read_bytes()))
    document = manifest("inferenceservice.yaml")
    jsonschema.validate(document, schema)
    assert document["metadata"]["name"] == MODEL_NAME
    broken = copy.deepcopy(document)
    broken["spec"]["predictor"]["model"]["modelFormat"] = "onnx"  # must be an object
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def mebibytes(quantity: str) -> float:
    """A Kubernetes memory quantity in MiB (the forms the Deployment uses: Mi, Gi)."""
    return float(quantity[:-2]) * {"Mi": 1, "Gi": 1024}[quantity[-2:]]


def process_tree(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(process for child in children for process in process_tree(int(child)))]


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc (Linux)")
def test_the_service_under_load_stays_within_the_deployment_s_memory_limit(artifacts, images):
    # The request is sized for the image (the serve extra alone); this environment may hold
    # more that the runtime imports when present (Keras imports scikit-learn if installed),
    # so it is held to the limit, the figure that gets a pod killed.
    process, url = start(artifacts)  # as the image runs it: serve's default workers
    try:
        with ThreadPoolExecutor(32) as pool:
            list(
                pool.map(
                    lambda _: post(url + PREDICT, {"instances": images[:1].tolist()}), range(256)
                )
            )
        largest = np.repeat(images, 1024 // len(images), axis=0)  # the most one request holds
        assert post(url + PREDICT, {"instances": largest.tolist()})[0] == 200
        resident = sum(resident_megabytes(pid) for pid in process_tree(process.pid))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    container = manifest("deployment.yaml")["spec"]["template"]["spec"]["containers"][0]
    assert resident <= mebibytes(container["resources"]["limits"]["memory"])
