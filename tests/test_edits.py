"""Five everyday research edits (tests/edits/FRAMEWORK/*.patch), each in the one place the
generated README's "What is where" names, and none turning the project's own tests red.

The patches are written against the default research project named ``edits-demo``, and apply
as they are to a deployment project of that name (the files they change do not depend on the
targets); each is a real change: an MLP with a hidden layer, label smoothing, SGD with a cosine
schedule, flip and rotation augmentation, top-3 accuracy over the whole evaluation set.
"""

import re
import subprocess
from pathlib import Path

import pytest

from bench.starter_env import install_project, run
from fwstart.api import new_project
from fwstart.questions import Answers

EDITS = Path(__file__).parent / "edits"
FRAMEWORKS = ("pytorch", "tensorflow")
# Each edit, and the words in bold on the README's row for the file it belongs in.
PLACES = {
    "mlp": "the model",
    "label_smoothing": "the loss",
    "sgd_cosine": "the optimizer and schedule",
    "flip_rotation": "the augmentation",
    "top3": "the metrics",
}
CONFIG = "configs/default.yaml"


# The default research project, and the deployment project the full run also exports: mobile,
# the target whose tests and export add least to the run (no service, browser or Node.js).
PROJECTS = {
    "research": Answers("research", (), "neither", "none", "github", ()),
    "deployment": Answers("deployment", ("mobile",), "neither", "none", "github", ()),
}


def default_project(catalog, folder: Path, framework: str, goal: str = "research") -> Path:
    return new_project(catalog, folder / "edits-demo", PROJECTS[goal], framework).path


def named_place(readme: str, words: str) -> str:
    """The file of the "What is where" row that holds **words**."""
    row = next(line for line in readme.splitlines() if f"**{words}**" in line.lower())
    return re.search(r"`(src/[^`]+\.py)`", row).group(1)


def changed_lines(patch: str) -> dict[str, int]:
    """Each file a patch changes, with its number of removed lines."""
    changed: dict[str, int] = {}
    for block in patch.split("diff --git ")[1:]:
        path = re.search(r"^\+\+\+ b/(\S+)", block, re.MULTILINE).group(1)
        changed[path] = len(re.findall(r"^-(?!--)", block, re.MULTILINE))
    return changed


def git_apply(project: Path, patch: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "apply", *flags, str(patch)],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("goal", PROJECTS)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_each_edit_is_one_file_the_readme_names_and_applies(catalog, tmp_path, framework, goal):
    project = default_project(catalog, tmp_path, framework, goal)
    readme = (project / "README.md").read_text()
    assert sorted(path.stem for path in (EDITS / framework).glob("*.patch")) == sorted(PLACES)
    for edit, words in PLACES.items():
        patch = EDITS / framework / f"{edit}.patch"
        place = named_place(readme, words)
        changed = changed_lines(patch.read_text())
        assert set(changed) - {CONFIG} == {place}, (edit, changed)
        assert changed.get(CONFIG, 1) == 1, f"{edit} changes more than one line of the config"
        checked = git_apply(project, patch, "--check")
        assert checked.returncode == 0, f"{edit}: {checked.stderr}"


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_all_five_edits_train_and_pass_the_projects_own_tests(
    catalog, tmp_path, starter_envs, framework
):
    starter = starter_envs(framework)
    project = default_project(catalog, tmp_path, framework, "deployment")
    install_project(project, starter)
    package = project.name.replace("-", "_")
    for edit in PLACES:  # each edit alone takes one training step
        git_apply(project, EDITS / framework / f"{edit}.patch")
        run("python", "-m", f"{package}.train", "--dry-run", cwd=project, env=starter.variables)
        git_apply(project, EDITS / framework / f"{edit}.patch", "-R")
    for edit in PLACES:
        applied = git_apply(project, EDITS / framework / f"{edit}.patch")
        assert applied.returncode == 0, f"{edit}: {applied.stderr}"
    run("python", "-m", f"{package}.train", "--epochs", "2", cwd=project, env=starter.variables)
    run("python", "-m", f"{package}.export", cwd=project, env=starter.variables)  # verifies each
    tests = run(
        "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project, env=starter.variables
    )
    summary = tests.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and not re.search(r"\d+ (failed|error)", summary)
