"""The cluster launchers each starter writes: checked offline, as a cluster would read them.

deploy/kubeflow/train.yaml against the Kubeflow CRD schema vendored in tests/schemas/kubeflow
(a TrainJob for PyTorch, a TFJob for TensorFlow: see its README), and deploy/slurm/train.sbatch
with shellcheck. Training itself (torchrun, resume after a kill, Ctrl-C) is tested by each
starter's own tests/test_train.py, which the slow suite runs in tests/test_starters.py.
"""

import json
import subprocess
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


# Stand-ins for SLURM's commands and python: srun starts the step's two tasks one after the
# other, and python prints the TF_CONFIG it was given.
FAKE_SLURM = {
    "scontrol": '#!/bin/sh\nprintf "node-a\\nnode-b\\n"\n',
    "srun": '#!/bin/sh\nfor task in 0 1; do SLURM_PROCID=$task "$@"; done\n',
    "python": '#!/bin/sh\necho "$TF_CONFIG $*"\n',
}


def test_slurm_script_gives_each_tensorflow_worker_its_tf_config(catalog, tmp_path):
    path = generate(catalog, tmp_path / "p", "tensorflow", "none", ())
    for name, text in FAKE_SLURM.items():
        (tmp_path / "bin" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "bin" / name).write_text(text)
        (tmp_path / "bin" / name).chmod(0o755)
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "SLURM_JOB_NODELIST": "node-[a-b]"}
    result = subprocess.run(
        ["bash", str(path / "deploy" / "slurm" / "train.sbatch"), "--epochs", "2"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    package = path.name.replace("-", "_")
    configs = []
    for line in result.stdout.splitlines():
        config, _, arguments = line.partition(f" -m {package}.train")
        assert arguments == " --epochs 2"
        configs.append(json.loads(config))
    assert [config["task"] for config in configs] == [
        {"type": "worker", "index": 0},
        {"type": "worker", "index": 1},
    ]
    assert all(
        config["cluster"] == {"worker": ["node-a:29500", "node-b:29500"]} for config in configs
    )
