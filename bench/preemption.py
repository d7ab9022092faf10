"""What a stop signal costs the PyTorch starter's default project: one training step and one
save of its resume state, timed on this machine.

    python -m bench.preemption [--framework pytorch|tensorflow] [--repeats 30]

The launchers (deploy/slurm, deploy/kubeflow, deploy/skypilot) give a stopped run this long,
and more, between the signal and the kill: a run that is told to stop finishes its current step
and saves runs/resume.ckpt (checkpoint.save_resume_state: the model, optimizer, schedule and
random number generators, serialised in memory, written to a temporary file and renamed).
Runs the default project's own functions (configs/default.yaml, model.build_model,
train.make_optimizer, checkpoint.save_resume_state) in the starter environment's Python, from
the rendered source (nothing is installed into that environment), on one CPU thread.
"""

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

from bench.starter_env import starter_environment
from fwstart.api import load_catalog, new_project
from fwstart.questions import Answers

# Each framework's step and save, built with the default project's own functions; TIMING
# (below) times them. {package} is the project's package.
SETUP = {
    "pytorch": r"""
import torch
from torch import nn
from {package} import checkpoint, train
from {package}.config import load_config
from {package}.data import load_data, num_classes
from {package}.model import build_model
from {package}.progress import Progress

torch.set_num_threads(1)
config = load_config(Path("configs/default.yaml"))
splits = load_data(config, cache=False)
classes, (_, size, _, channels) = num_classes(splits), splits["train"].images.shape
model = build_model(config.model, classes, size, channels, config.weights)
optimizer, scheduler = train.make_optimizer(model, config, 100)
images = torch.rand(config.batch_size, channels, size, size)
labels = torch.randint(0, classes, (config.batch_size,))
parts = {{"model": model, "optimizer": optimizer, "scheduler": scheduler}}

def step():
    loss = nn.functional.cross_entropy(model(images), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    scheduler.step()

def save(run_dir):
    checkpoint.save_resume_state(run_dir, config, parts, Progress())
""",
    "tensorflow": r"""
from {package} import checkpoint, train
from {package}.config import load_config
from {package}.data import load_data, make_dataset, num_classes
from {package}.model import build_model
from {package}.progress import Progress
from {package}.quiet import tf

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
config = load_config(Path("configs/default.yaml"))
splits = load_data(config, cache=False)
classes, shape = num_classes(splits), splits["train"].images.shape
model = build_model(config.model, classes, shape[1], shape[3], config.weights)
optimizer = train.make_optimizer(model, config, 100)
train_step = train.make_train_step(model, optimizer, tf.distribute.get_strategy(), config.compile)
batch = next(iter(make_dataset(splits["train"], config.batch_size, True, config.seed)))
state = checkpoint.ResumeState(model, optimizer)
savers = {{}}

def step():
    float(train_step(batch)[0])  # to the host: the step has run

def save(run_dir):
    if run_dir not in savers:
        savers[run_dir] = state.saver(run_dir, config)
    state.save(savers[run_dir], Progress())
""",
}
TIMING = r"""
def timed(action, *args):
    action(*args)  # once untimed: first-call allocations, tracing
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        action(*args)
        seconds.append(time.perf_counter() - start)
    return {{"median_s": statistics.median(seconds), "max_s": max(seconds)}}

with tempfile.TemporaryDirectory() as folder:
    result = {{"step": timed(step), "save": timed(save, Path(folder))}}
    files = [p for p in Path(folder).rglob("*") if p.is_file()]
    result["resume_state_bytes"] = sum(p.stat().st_size for p in files)
result["model"], result["batch_size"] = config.model, config.batch_size
print(json.dumps(result))
"""
HEADER = r"""
import json, statistics, sys, tempfile, time
from pathlib import Path
repeats = int(sys.argv[1])
"""


def measure(framework: str, folder: Path, repeats: int) -> dict:
    """The default project's step and save times (seconds) and resume state size."""
    starter = starter_environment(framework)
    answers = Answers("research", (), "neither", "none", "none", ())
    project = new_project(load_catalog(), folder / "preemption-bench", answers, framework).path
    package = project.name.replace("-", "_")
    env = {**starter.variables, "PYTHONPATH": str(project / "src"), "OMP_NUM_THREADS": "1"}
    script = HEADER + (SETUP[framework] + TIMING).format(package=package)
    output = subprocess.run(
        ["python", "-c", script, str(repeats)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=sorted(SETUP), default="pytorch")
    parser.add_argument("--repeats", type=int, default=30)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = measure(arguments.framework, Path(folder), arguments.repeats)
    print(json.dumps(result, indent=2))
    step, save = result["step"], result["save"]
    print(
        f"one step {step['median_s'] * 1000:.1f} ms (max {step['max_s'] * 1000:.1f}), "
        f"one save {save['median_s'] * 1000:.1f} ms (max {save['max_s'] * 1000:.1f}) "
        f"of {result['resume_state_bytes'] / 1e6:.2f} MB"
    )


if __name__ == "__main__":
    main()
