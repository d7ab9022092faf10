"""The cluster launchers each starter writes: checked offline, as a cluster would read them.

deploy/kubeflow/train.yaml against the Kubeflow CRD schema vendored in tests/schemas/kubeflow
(a TrainJob for PyTorch, a TFJob for TensorFlow: see its README), and deploy/slurm/train.sbatch
with shellcheck. Training itself (torchrun, resume after a kill, Ctrl-C) is tested by each
starter's own tests/test_train.py, which the slow suite runs in tests/test_starters.py.
"""

import json
from pathlib import Path

import pytest
import yaml

from tests.test_templates import generate, run, tool

SCHEMAS = Path(__file__).parent / "schemas" / "kubeflow"
# The API each framework's manifest uses, and the schema it must meet.
KUBEFLOW = {
    "pytorch": ("trainer.kubeflow.org/v1alpha1", "TrainJob", "trainjob-v1alpha1.json"),
    "tensorflow": ("kubeflow.org/v1", "TFJob", "tfjob-v1.json"),
}


@pytest.fixture(scope="module", params=["pytorch", "tensorflow"])
def project(request, catalog, tmp_path_factory) -> tuple[str, Path]:
    return request.param, generate(catalog, tmp_path_factory.mktemp("p"), request.param, "none", ())


def test_kubeflow_manifest_meets_the_vendored_crd_schema(project):
    framework, path = project
    manifest = path / "deploy" / "kubeflow" / "train.yaml"
    api_version, kind, schema = KUBEFLOW[framework]
    document = yaml.safe_load(manifest.read_text())
    assert (document["apiVersion"], document["kind"]) == (api_version, kind)
    checked = run(tool("check-jsonschema"), "--schemafile", str(SCHEMAS / schema), str(manifest))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_kubeflow_schema_check_catches_a_missing_field(project, tmp_path):
    framework, path = project
    document = yaml.safe_load((path / "deploy" / "kubeflow" / "train.yaml").read_text())
    document["spec"].pop("runtimeRef" if framework == "pytorch" else "tfReplicaSpecs")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document))
    schema = SCHEMAS / KUBEFLOW[framework][2]
    assert run(tool("check-jsonschema"), "--schemafile", str(schema), str(broken)).returncode == 1


def test_slurm_script_passes_shellcheck_and_runs_the_training_module(project):
    framework, path = project
    script = path / "deploy" / "slurm" / "train.sbatch"
    linted = run(tool("shellcheck"), str(script))
    assert linted.returncode == 0, linted.stdout
    text = script.read_text()
    assert f"-m {path.name.replace('-', '_')}.train" in text
    if framework == "pytorch":
        assert "srun torchrun" in text and "--rdzv_endpoint" in text
