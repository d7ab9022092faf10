"""The SkyPilot task the PyTorch starter writes (deploy/skypilot/train.yaml): a managed job on
spot capacity that recovers preempted nodes and runs that stopped for a signal.

Checked offline: its recovery settings, its `run` script on the stand-ins of tests/test_scale.py
(torchrun started from SkyPilot's variables, the stop status torchrun hides), and (slow: an
install) SkyPilot's own validator in an environment of its own. No cloud is reached.
"""

import subprocess
from pathlib import Path

import pytest
import yaml

from bench.uv_here import CACHE
from tests.test_scale import STOP_STATUSES, cluster, manifests, project, run_job
from tests.test_templates import generate, run, tool

__all__ = ["cluster", "project"]  # fixtures, used by name


# SkyPilot's own validator, in a throwaway environment of its own (not the project's).
SKYPILOT = "skypilot==0.14.1"
SKYPILOT_CHECK = """
import sys, yaml
import sky
from sky.utils import common_utils, schemas
config = yaml.safe_load(open(sys.argv[1]))
common_utils.validate_schema(config, schemas.get_task_schema(), "Invalid task YAML: ")
sky.Task.from_yaml_config(config)  # and the resources: job_recovery, use_spot, accelerators
"""


@pytest.fixture(scope="session")
def skypilot_python() -> Path:
    """A venv with SkyPilot alone, made once in FWSTART_CACHE and reused."""
    folder = CACHE / f"skypilot-{SKYPILOT.split('==')[1]}"
    python = folder / "bin" / "python"
    if not (folder / ".complete").is_file():
        subprocess.run([tool("uv"), "venv", "-q", "--clear", str(folder)], check=True)
        subprocess.run(
            [tool("uv"), "pip", "install", "-q", "-p", str(python), SKYPILOT], check=True
        )
        (folder / ".complete").touch()
    return python


@pytest.fixture(scope="module")
def pytorch_project(catalog, tmp_path_factory) -> Path:
    return generate(catalog, tmp_path_factory.mktemp("sky"), "pytorch", "none", ())


def skypilot_task(project_path: Path) -> dict:
    return yaml.safe_load((project_path / "deploy" / "skypilot" / "train.yaml").read_text())


def test_skypilot_task_recovers_spot_nodes_and_stopped_runs(pytorch_project):
    task = skypilot_task(pytorch_project)
    assert task["resources"]["use_spot"] is True
    assert set(task["resources"]["job_recovery"]["recover_on_exit_codes"]) == STOP_STATUSES
    # As many nodes as the other launchers ask for.
    assert (
        task["num_nodes"] == manifests(pytorch_project)["TrainJob"]["spec"]["trainer"]["numNodes"]
    )
    assert task["file_mounts"]["/runs"]["mode"] == "MOUNT_CACHED"


def test_only_pytorch_projects_get_a_skypilot_task(project):
    framework, path = project
    assert (path / "deploy" / "skypilot").is_dir() == (framework == "pytorch")


@pytest.mark.parametrize(
    ("outcome", "stop", "expected"),
    [("stop", "TERM", 143), ("succeed", None, 0), ("fail", None, 1)],
)
def test_skypilot_run_starts_torchrun_from_skypilots_variables(
    pytorch_project, cluster, outcome, stop, expected
):
    script = skypilot_task(pytorch_project)["run"]
    (cluster / "run.sh").write_text(script)
    linted = run(tool("shellcheck"), "--shell=bash", str(cluster / "run.sh"))
    assert linted.returncode == 0, linted.stdout
    calls = cluster / "calls"
    calls.write_text("")
    (cluster / ".venv" / "bin").mkdir(parents=True)
    (cluster / ".venv" / "bin" / "torchrun").symlink_to(cluster / "bin" / "torchrun")
    env = {
        "PATH": f"{cluster / 'bin'}:/usr/bin:/bin",
        "CALLS": str(calls),
        "FAKE_RUN": outcome,
        "SKYPILOT_NODE_RANK": "1",
        "SKYPILOT_NODE_IPS": "10.0.0.7\n10.0.0.8",
        "SKYPILOT_NUM_NODES": "2",
        "SKYPILOT_NUM_GPUS_PER_NODE": "4",
    }
    # As SkyPilot runs it on each node: bash, in the synced workdir.
    assert run_job(["bash", "-c", script], env, calls, stop, cwd=cluster) == expected
    lines = calls.read_text().splitlines()
    (torchrun,) = [line.split() for line in lines if line.startswith("torchrun")]
    for flag in ("--nnodes=2", "--nproc_per_node=4", "--node_rank=1", "--master_addr=10.0.0.7"):
        assert flag in torchrun
    if stop:
        assert sorted(c for c in lines if c.startswith("stopped")) == [
            "stopped 0.0 TERM",
            "stopped 0.1 TERM",
        ]


@pytest.mark.slow
def test_skypilot_task_meets_skypilots_own_schema(pytorch_project, skypilot_python, tmp_path):
    check = tmp_path / "check.py"
    check.write_text(SKYPILOT_CHECK)
    task_file = pytorch_project / "deploy" / "skypilot" / "train.yaml"
    # SkyPilot keeps state in ~/.sky: a HOME of the test's own, and no cloud is reached.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    checked = subprocess.run(
        [str(skypilot_python), str(check), str(task_file)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    broken = skypilot_task(pytorch_project)
    broken["resources"]["job_recovery"]["recover_on_exit_codes"] = [128 + 256]
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(broken))
    refused = subprocess.run(
        [str(skypilot_python), str(check), str(tmp_path / "broken.yaml")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert refused.returncode == 1 and "recover_on_exit_codes" in refused.stderr
