"""The cluster launchers each starter writes: checked offline, as a cluster would read them.

deploy/kubeflow/train.yaml against the Kubeflow CRD schemas vendored in tests/schemas/kubeflow
(for PyTorch a TrainingRuntime and a TrainJob, for TensorFlow a TFJob: see its README) and for
how it restarts a run that stopped for a signal; deploy/slurm/train.sbatch with shellcheck and
on stand-ins for srun, torchrun, scontrol and the training processes: a stop signal reaches
every worker, SLURM's warning requeues the job, a finished or failed run is not requeued.
Training itself (torchrun, resume after a kill, a stop signal) is tested by each starter's own
tests, which the slow suite runs in tests/test_starters.py; deploy/skypilot in test_skypilot.py.
"""

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from bench.starter_env import StarterEnv, install_project
from fwstart.api import new_project
from fwstart.questions import Answers
from tests.test_templates import generate, run, tool

SCHEMAS = Path(__file__).parent / "schemas" / "kubeflow"
# The documents of each framework's deploy/kubeflow/train.yaml, in order: the API each uses,
# and the schema it must meet.
KUBEFLOW = {
    "pytorch": [
        ("trainer.kubeflow.org/v1alpha1", "TrainingRuntime", "trainingruntime-v1alpha1.json"),
        ("trainer.kubeflow.org/v1alpha1", "TrainJob", "trainjob-v1alpha1.json"),
    ],
    "tensorflow": [("kubeflow.org/v1", "TFJob", "tfjob-v1.json")],
}
STOP_STATUSES = {130, 138, 143}  # 128 + SIGINT, SIGUSR1, SIGTERM: a run that stopped to resume


@pytest.fixture(scope="module", params=["pytorch", "tensorflow"])
def project(request, catalog, tmp_path_factory) -> tuple[str, Path]:
    return request.param, generate(catalog, tmp_path_factory.mktemp("p"), request.param, "none", ())


def manifests(path: Path) -> dict[str, dict]:
    """deploy/kubeflow/train.yaml's documents, by kind."""
    text = (path / "deploy" / "kubeflow" / "train.yaml").read_text()
    return {document["kind"]: document for document in yaml.safe_load_all(text)}


def schema_check(document: dict, schema: str, tmp_path: Path) -> subprocess.CompletedProcess:
    (tmp_path / "document.json").write_text(json.dumps(document))
    return run(
        tool("check-jsonschema"),
        "--schemafile",
        str(SCHEMAS / schema),
        str(tmp_path / "document.json"),
    )


def test_kubeflow_manifests_meet_the_vendored_crd_schemas(project, tmp_path):
    framework, path = project
    text = (path / "deploy" / "kubeflow" / "train.yaml").read_text()
    documents = list(yaml.safe_load_all(text))
    assert [(d["apiVersion"], d["kind"]) for d in documents] == [
        (api, kind) for api, kind, _ in KUBEFLOW[framework]
    ]
    for document, (_, _, schema) in zip(documents, KUBEFLOW[framework], strict=True):
        checked = schema_check(document, schema, tmp_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_kubeflow_schema_check_catches_a_missing_field(project, tmp_path):
    framework, path = project
    _, kind, schema = KUBEFLOW[framework][-1]
    document = manifests(path)[kind]
    document["spec"].pop("runtimeRef" if framework == "pytorch" else "tfReplicaSpecs")
    assert schema_check(document, schema, tmp_path).returncode == 1


def slurm_warning(path: Path) -> int:
    """The seconds of warning the SLURM script asks for (#SBATCH --signal=B:USR1@N)."""
    text = (path / "deploy" / "slurm" / "train.sbatch").read_text()
    return int(re.search(r"^#SBATCH --signal=B:USR1@(\d+)$", text, re.MULTILINE)[1])


def trainjob_restarts_every_node_when_one_stops_for_a_signal(project: tuple[str, Path]) -> None:
    path = project[1]
    job, runtime = manifests(path)["TrainJob"], manifests(path)["TrainingRuntime"]
    assert job["spec"]["runtimeRef"] == {
        "kind": "TrainingRuntime",
        "name": runtime["metadata"]["name"],
    }
    jobset = runtime["spec"]["template"]["spec"]
    rule = jobset["failurePolicy"]["rules"][0]
    assert rule["action"] == "RestartJobSetAndIgnoreMaxRestarts"
    assert rule["onJobFailureReasons"] == ["PodFailurePolicy"]
    (node,) = jobset["replicatedJobs"]
    rules = node["template"]["spec"]["podFailurePolicy"]["rules"]
    by_exit_code = [rule for rule in rules if "onExitCodes" in rule]
    assert [rule["action"] for rule in rules] == ["FailJob", "FailJob"]
    assert by_exit_code[0]["onExitCodes"]["operator"] == "In"
    assert set(by_exit_code[0]["onExitCodes"]["values"]) == STOP_STATUSES
    assert {"type": "DisruptionTarget"} in [
        c for rule in rules for c in rule.get("onPodConditions", [])
    ]
    pod = node["template"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert by_exit_code[0]["onExitCodes"]["containerName"] == pod["containers"][0]["name"]
    # SIGTERM to SIGKILL: as long as SLURM's warning, longer than Kubernetes' default 30 s.
    assert pod["terminationGracePeriodSeconds"] == slurm_warning(path) > 30


def tfjob_restarts_a_worker_that_stops_for_a_signal(project: tuple[str, Path]) -> None:
    path = project[1]
    worker = manifests(path)["TFJob"]["spec"]["tfReplicaSpecs"]["Worker"]
    # Training Operator v1's ExitCode policy: 1, 2, 126, 127, 128 and 139 end the job; any other
    # status restarts the worker (pkg/controller.v1/common/util.go, isRetryableExitCode).
    assert worker["restartPolicy"] == "ExitCode"
    assert worker["template"]["spec"]["terminationGracePeriodSeconds"] == slurm_warning(path) > 30


def test_kubeflow_job_restarts_a_run_that_stops_for_a_signal(project):
    {
        "pytorch": trainjob_restarts_every_node_when_one_stops_for_a_signal,
        "tensorflow": tfjob_restarts_a_worker_that_stops_for_a_signal,
    }[project[0]](project)


@pytest.mark.parametrize(
    ("outcome", "stop", "expected"),
    [("stop", "TERM", 143), ("succeed", None, 0), ("fail", None, 1)],
)
def test_trainjob_command_ends_with_the_stop_status_torchrun_hides(
    catalog, tmp_path, cluster, outcome, stop, expected
):
    path = generate(catalog, tmp_path / "p", "pytorch", "none", ())
    shell, flag, script, name = manifests(path)["TrainJob"]["spec"]["trainer"]["command"]
    assert (shell, flag, name) == ("bash", "-c", "train")
    (cluster / "command.sh").write_text(script)
    linted = run(tool("shellcheck"), "--shell=bash", str(cluster / "command.sh"))
    assert linted.returncode == 0, linted.stdout
    calls = cluster / "calls"
    calls.write_text("")
    env = {"PATH": f"{cluster / 'bin'}:/usr/bin:/bin", "CALLS": str(calls), "FAKE_RUN": outcome}
    # The pod's command, as the container runs it: bash -c SCRIPT train (with no arguments).
    assert run_job([shell, flag, script, name], env, calls, stop) == expected
    if stop:
        assert sorted(c for c in calls.read_text().splitlines() if c.startswith("stopped")) == [
            "stopped 0.0 TERM",
            "stopped 0.1 TERM",
        ]


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


# Stand-ins for a two-node allocation, each recording what it was asked to do in $CALLS:
# srun starts its task on both nodes and forwards the signals it receives to them (SIGUSR1 and
# SIGTERM among them, as SLURM's srun does); torchrun starts two workers and, like torch's,
# forwards only the signals named in --signals-to-handle (SIGUSR1 is not among its defaults:
# then SIGUSR1 ends torchrun and its workers never hear of it) and ends with 1 when a worker
# failed; a worker (the python torchrun or srun starts) waits for a signal and exits with
# 128 + its number, or with FAKE_RUN's status (succeed: 0, fail: 1) at once.
FAKE_CLUSTER = {
    "scontrol": """#!/bin/bash
echo "scontrol $*" >> "$CALLS"
if [ "$1" = show ]; then printf "node-a\\nnode-b\\n"; fi
""",
    "srun": """#!/bin/bash
pids=()
for node in 0 1; do SLURM_PROCID=$node "$@" & pids+=($!); done
trap 'kill -s USR1 "${pids[@]}"' USR1
trap 'kill -s TERM "${pids[@]}"' TERM
highest=0
for pid in "${pids[@]}"; do
  while kill -0 "$pid" 2>/dev/null; do wait "$pid"; done
  wait "$pid"; status=$?
  if [ "$status" -gt "$highest" ]; then highest=$status; fi
done
exit "$highest"
""",
    "torchrun": """#!/bin/bash
echo "torchrun $*" >> "$CALLS"
handled=SIGTERM,SIGINT,SIGHUP,SIGQUIT
while [ "$1" != -m ]; do
  case $1 in --signals-to-handle=*) handled=${1#*=} ;; esac
  shift
done
pids=()
for rank in 0 1; do LOCAL_RANK=$rank python "$@" & pids+=($!); done
for signal in ${handled//,/ }; do trap "kill -s ${signal#SIG} ${pids[*]}" "${signal#SIG}"; done
failed=0
for pid in "${pids[@]}"; do
  while kill -0 "$pid" 2>/dev/null; do wait "$pid"; done
  wait "$pid" || failed=1
done
exit "$failed"
""",
    "python": """#!/bin/bash
worker="${SLURM_PROCID:-0}.${LOCAL_RANK:-0}"
echo "worker $worker $*" >> "$CALLS"
stop() { echo "stopped $worker $1" >> "$CALLS"; kill "$sleeper" 2>/dev/null; exit "$2"; }
trap 'stop USR1 138' USR1
trap 'stop TERM 143' TERM
case $FAKE_RUN in succeed) exit 0 ;; fail) exit 1 ;; esac
sleep 20 & sleeper=$!
wait "$sleeper"
""",
}
WORKERS = {"pytorch": 4, "tensorflow": 2}  # two nodes; torchrun starts two processes on each


def wait_for_workers(calls: Path, count: int, seconds: float = 20) -> None:
    """Until ``count`` workers have recorded their start."""
    deadline = time.monotonic() + seconds
    while calls.read_text().count("worker ") < count:
        assert time.monotonic() < deadline, calls.read_text()
        time.sleep(0.05)


def run_job(
    command: list[str],
    env: dict[str, str],
    calls: Path,
    stop: str | None = None,
    workers: int = 2,
    cwd: Path | None = None,
    seconds: float = 20,
) -> int:
    """Run a launcher's command; once ``workers`` workers have recorded their start, send it
    ``stop`` (a signal's name, without SIG). Its exit status, within ``seconds``."""
    job = subprocess.Popen(command, env=env, cwd=cwd)
    try:
        if stop:
            wait_for_workers(calls, workers, seconds)
            job.send_signal(getattr(signal, f"SIG{stop}"))
        return job.wait(timeout=seconds)
    finally:
        job.kill()


@pytest.fixture
def cluster(tmp_path) -> Path:
    for name, text in FAKE_CLUSTER.items():
        (tmp_path / "bin" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "bin" / name).write_text(text)
        (tmp_path / "bin" / name).chmod(0o755)
    return tmp_path


def submit(
    project: tuple[str, Path], cluster: Path, run: str, stop: str | None = None
) -> tuple[int, list[str]]:
    """Run the SLURM script on the stand-ins, send it ``stop`` once every worker has started;
    its exit status and the calls recorded."""
    framework, project_path = project
    calls = cluster / "calls"
    calls.write_text("")
    env = {
        "PATH": f"{cluster / 'bin'}:/usr/bin:/bin",
        "CALLS": str(calls),
        "FAKE_RUN": run,
        "SLURM_JOB_ID": "42",
        "SLURM_JOB_NODELIST": "node-[a-b]",
        "SLURM_JOB_NUM_NODES": "2",
        "SLURM_GPUS_ON_NODE": "2",
    }
    script = project_path / "deploy" / "slurm" / "train.sbatch"
    command = ["bash", str(script), "--epochs", "2"]
    status = run_job(command, env, calls, stop, WORKERS[framework])
    return status, calls.read_text().splitlines()


@pytest.mark.parametrize("stop", ["USR1", "TERM"])
def test_slurm_stop_signal_reaches_every_worker(project, cluster, stop):
    framework = project[0]
    status, calls = submit(project, cluster, "stop", stop)
    stopped = sorted(call.split()[1] for call in calls if call.startswith("stopped"))
    assert len(stopped) == WORKERS[framework] == len(set(stopped)), calls
    assert all(call.endswith(stop) for call in calls if call.startswith("stopped"))
    assert status != 0
    # SLURM's warning requeues the job; SIGTERM (scancel, or SLURM's own preemption) does not.
    assert ("scontrol requeue 42" in calls) == (stop == "USR1")


def test_slurm_requeued_job_runs_the_same_command(project, cluster):
    path = project[1]
    _, calls = submit(project, cluster, "stop", "USR1")
    first = sorted(call for call in calls if call.startswith("worker"))
    status, calls = submit(project, cluster, "succeed")
    assert status == 0 and sorted(call for call in calls if call.startswith("worker")) == first
    assert all(f"-m {path.name.replace('-', '_')}.train --epochs 2" in call for call in first)


@pytest.mark.parametrize(("run", "expected"), [("succeed", 0), ("fail", 1)])
def test_slurm_finished_or_failed_run_is_not_requeued(project, cluster, run, expected):
    status, calls = submit(project, cluster, run)
    assert status == expected
    assert not [call for call in calls if call.startswith("scontrol requeue")]


# The training module, as torchrun starts it: it records its start, and on SIGUSR1 or SIGTERM
# its stop, exiting with 128 + the signal's number as the starters' train does.
WORKER_MODULE = """
import os, signal, sys, time
calls, rank = os.environ["CALLS"], os.environ["RANK"]
def stop(number, frame):
    with open(calls, "a") as record:
        record.write(f"stopped {rank} {signal.Signals(number).name}\\n")
    sys.exit(128 + number)
signal.signal(signal.SIGUSR1, stop)
signal.signal(signal.SIGTERM, stop)
with open(calls, "a") as record:
    record.write(f"worker {rank} {' '.join(sys.argv[1:])}\\n")
time.sleep(120)
"""


def on_this_machine(cluster: Path, starter: StarterEnv) -> dict[str, str]:
    """The stand-ins' allocation made real: both "nodes" are this machine, and torchrun and
    python are the starter environment's own (srun and scontrol stay stand-ins). The variables
    the batch script runs with; ``cluster / "calls"`` is emptied."""
    for stand_in in ("torchrun", "python"):
        (cluster / "bin" / stand_in).unlink()
    scontrol = FAKE_CLUSTER["scontrol"].replace("node-a\\nnode-b", "127.0.0.1\\n127.0.0.1")
    (cluster / "bin" / "scontrol").write_text(scontrol)
    (cluster / "calls").write_text("")
    return {
        "PATH": f"{cluster / 'bin'}:{starter.directory / 'bin'}:/usr/bin:/bin",
        "CALLS": str(cluster / "calls"),
        "SLURM_JOB_ID": "42",
        "SLURM_JOB_NODELIST": "node-[a-b]",
        "SLURM_JOB_NUM_NODES": "2",
        "SLURM_GPUS_ON_NODE": "1",
    }


@pytest.mark.slow
def test_slurm_warning_reaches_real_torchrun_workers_and_requeues(
    catalog, tmp_path, cluster, starter_envs
):
    """The stand-ins' torchrun, checked against torch's: two nodes on this machine."""
    path = generate(catalog, tmp_path / "p", "pytorch", "none", ())
    package = tmp_path / "src" / path.name.replace("-", "_")
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "train.py").write_text(WORKER_MODULE)
    calls = cluster / "calls"
    env = {**on_this_machine(cluster, starter_envs("pytorch")), "PYTHONPATH": str(tmp_path / "src")}
    script = path / "deploy" / "slurm" / "train.sbatch"
    status = run_job(["bash", str(script), "--epochs", "2"], env, calls, "USR1", seconds=120)
    lines = calls.read_text().splitlines()
    assert sorted(line for line in lines if line.startswith("stopped")) == [
        "stopped 0 SIGUSR1",
        "stopped 1 SIGUSR1",
    ]
    assert status == 1  # torchrun's own status when its workers stopped for a signal
    assert "scontrol requeue 42" in lines


@pytest.mark.slow
def test_slurm_requeued_training_resumes_where_the_warning_stopped_it(
    catalog, tmp_path, cluster, starter_envs
):
    """The whole SLURM story on two "nodes" of this machine: the project's real training under
    real torchrun (two processes, one per node), SLURM's warning, the requeue, and SLURM
    running the script again, which resumes where the warning stopped it and finishes."""
    starter = starter_envs("pytorch")
    answers = Answers("research", (), "neither", "none", "none", ())
    project = new_project(catalog, tmp_path / "requeue-demo", answers, "pytorch").path
    install_project(project, starter)
    calls, run_dir = cluster / "calls", tmp_path / "runs"
    env = {**starter.variables, **on_this_machine(cluster, starter), "OMP_NUM_THREADS": "1"}
    command = ["bash", "deploy/slurm/train.sbatch", "--config", "configs/smoke.yaml",
               "--set", f"run_dir={run_dir}", "--set", "threads=1"]  # fmt: skip
    job = subprocess.Popen(command, cwd=project, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (run_dir / "resume.ckpt").is_file():  # its first epoch is saved
            if job.poll() is not None or time.monotonic() > deadline:
                job.kill()
                pytest.fail(f"no resume state was saved: {job.communicate()[1][-3000:]}")
            time.sleep(0.05)
        job.send_signal(signal.SIGUSR1)  # SLURM's warning, to the batch script
        _, stderr = job.communicate(timeout=120)
    finally:
        job.kill()
    assert job.returncode != 0 and "scontrol requeue 42" in calls.read_text(), stderr[-3000:]
    assert "stopped at epoch" in stderr and not (run_dir / "metrics.json").exists()

    again = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True,
                           timeout=600, check=False)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["resumed_from"] is not None and metrics["processes"] == 2
    assert [entry["epoch"] for entry in metrics["history"]] == list(range(1, metrics["epochs"] + 1))
    assert calls.read_text().count("scontrol requeue") == 1  # a finished run is not requeued
