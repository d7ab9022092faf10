"""`fwstart update`, used as a person does: generate, commit, edit, update."""

import io
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from pathlib import Path

import pexpect
import pytest

from fwstart import __version__
from fwstart.base import SNAPSHOT_LIMIT_BYTES
from fwstart.resources import templates_dir

from .conftest import tree

SNAPSHOTS = Path(__file__).parent / "snapshots"
FWSTART = Path(sys.executable).parent / "fwstart"
PERSON = ("-c", "user.name=A Person", "-c", "user.email=person@example.com")
PACKAGE_ROOT = "{{cookiecutter.package_name}}"

# What the person writes into their project, by file (appended).
MY_LINES = {
    "src/demo/train.py": "\n\ndef my_helper() -> int:\n    return 42\n",
    "src/demo/model.py": "# my note on the model\n",
    "tests/test_data.py": "# my extra check\n",
}


@pytest.fixture(autouse=True)
def fresh_machine(monkeypatch, tmp_path):
    """No git identity or configuration of the person's, and the installed templates."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "EMAIL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("FWSTART_TEMPLATES", raising=False)


def git(project: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *PERSON, *args], cwd=project, capture_output=True, text=True, check=True
    )
    return done.stdout


def commit_all(project: Path, message: str = "work") -> None:
    git(project, "add", "-A")
    git(project, "commit", "-qm", message)


def everything(root: Path) -> dict[str, bytes]:
    """Every file under root, git's own included."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} no longer holds {old!r}: adapt the test's template change"
    path.write_text(text.replace(old, new, 1))


def newer_templates(tmp_path: Path) -> Path:
    """A copy of fwstart's templates as a later fwstart might have them."""
    copy = tmp_path / "templates-next"
    shutil.copytree(templates_dir(), copy)  # links to shared files become copies
    root = copy / "pytorch" / PACKAGE_ROOT
    package = root / "src" / PACKAGE_ROOT
    edit(root / "configs" / "default.yaml", "epochs: 12", "epochs: 15")
    train = package / "train.py"
    train.write_text("# (new template) train.py reads top to bottom.\n" + train.read_text())
    (package / "data.py").write_text((package / "data.py").read_text() + "# (new template)\n")
    predict = root / "tests" / "test_predict.py"
    predict.write_text(predict.read_text() + "# (new template)\n")
    (root / "tests" / "test_splits.py").unlink()
    (root / "tests" / "test_data.py").unlink()
    (root / "CHANGES.md").write_text("# Changes in {{ cookiecutter.project_name }}\n")
    return copy


def make_my_edits(project: Path) -> None:
    edit(project / "configs" / "default.yaml", "epochs: 12", "epochs: 30")
    for name, text in MY_LINES.items():
        (project / name).write_text((project / name).read_text() + text)
    (project / "tests" / "test_predict.py").unlink()
    (project / "notes.md").write_text("my notes\n")
    commit_all(project, "my work")


@pytest.fixture
def project(fwstart, tmp_path) -> Path:
    """A new project, committed, with the person's edits committed on top."""
    result = fwstart("new", "demo", "--yes")
    assert result.exit_code == 0, result.output
    path = tmp_path / "demo"
    make_my_edits(path)
    return path


def test_new_starts_a_repository_whose_first_commit_is_the_render(fwstart, tmp_path):
    result = fwstart("new", "demo", "--yes")
    assert result.exit_code == 0, result.output
    project = tmp_path / "demo"
    assert git(project, "status", "--porcelain") == ""
    assert (
        git(project, "log", "--format=%an: %s").strip()
        == f"fwstart: Start demo from fwstart {__version__}"
    )
    assert git(project, "rev-parse", "HEAD") == git(project, "rev-parse", "refs/fwstart/base")
    assert "user" not in (project / ".git" / "config").read_text()


def test_new_inside_a_repository_moves_only_fwstarts_ref(fwstart, tmp_path):
    git(tmp_path, "init", "-q", "outer")
    result = fwstart("new", "outer/sub/demo", "--yes")
    assert result.exit_code == 0, result.output
    outer = tmp_path / "outer"
    assert not (outer / "sub" / "demo" / ".git").exists()
    assert subprocess.run(["git", "rev-parse", "HEAD"], cwd=outer, check=False).returncode != 0
    listed = git(outer, "ls-tree", "-r", "--name-only", "refs/fwstart/base").split()
    assert "src/demo/train.py" in listed and ".fwstart-answers.yml" in listed


def test_new_in_a_folder_a_repository_ignores_starts_its_own(fwstart, tmp_path):
    git(tmp_path, "init", "-q", "outer")
    (tmp_path / "outer" / ".gitignore").write_text("scratch/\n")
    assert fwstart("new", "outer/scratch/demo", "--yes").exit_code == 0
    project = tmp_path / "outer" / "scratch" / "demo"
    assert git(project, "rev-parse", "--show-toplevel").strip() == str(project)
    assert git(tmp_path / "outer", "for-each-ref") == ""


def test_update_merges_a_newer_template_and_keeps_every_line_of_mine(
    fwstart, project, tmp_path, monkeypatch
):
    monkeypatch.setenv("FWSTART_TEMPLATES", str(newer_templates(tmp_path)))
    fresh = fwstart("new", "fresh/demo", "--yes", "--no-git")
    assert fresh.exit_code == 0, fresh.output
    before = tree(project)
    result = fwstart("update", "demo")
    assert result.exit_code == 3, result.output
    listed = " ".join(result.stdout.split())
    for action, path in [
        ("conflict", "configs/default.yaml"),
        ("merged", "src/demo/train.py"),
        ("updated", "src/demo/data.py"),
        ("added", "CHANGES.md"),
        ("removed", "tests/test_splits.py"),
        ("kept yours", "tests/test_data.py"),
        ("kept deleted", "tests/test_predict.py"),
    ]:
        assert f"{action} {path}" in listed
    assert "Conflicts to resolve: configs/default.yaml, tests/test_data.py." in listed
    config = (project / "configs" / "default.yaml").read_text()
    assert (
        f"<<<<<<< yours\nepochs: 30\n=======\nepochs: 15\n>>>>>>> fwstart {__version__}\n" in config
    )
    assert (project / "src/demo/train.py").read_text().startswith("# (new template)")
    for name in ("src/demo/data.py", "CHANGES.md"):
        assert (project / name).read_bytes() == (tmp_path / "fresh" / "demo" / name).read_bytes()
    assert not (project / "tests/test_predict.py").exists()
    assert not (project / "tests/test_splits.py").exists()
    assert (project / "notes.md").read_text() == "my notes\n"
    after = tree(project)
    for name, text in before.items():  # every line I wrote is still there
        if name != "tests/test_splits.py":
            assert set(text.splitlines()) <= set(after[name].splitlines()), name
    status = git(project, "status", "--porcelain")
    assert "UU configs/default.yaml" in status and "UD tests/test_data.py" in status


def test_a_file_of_mine_where_the_template_adds_one_is_left_alone(
    fwstart, project, tmp_path, monkeypatch
):
    (project / ".gitignore").write_text((project / ".gitignore").read_text() + "CHANGES.md\n")
    commit_all(project, "ignore my changelog")
    (project / "CHANGES.md").write_text("my changelog, never committed\n")
    monkeypatch.setenv("FWSTART_TEMPLATES", str(newer_templates(tmp_path)))
    result = fwstart("update", "demo")
    assert result.exit_code == 3, result.output
    assert "both added CHANGES.md" in " ".join(result.stdout.split())
    assert "!! CHANGES.md" in git(project, "status", "--porcelain", "--ignored")
    undo = result.stdout.split("Undo with: ")[1].strip()
    subprocess.run(undo, shell=True, cwd=tmp_path, check=True)
    assert (project / "CHANGES.md").read_text() == "my changelog, never committed\n"
    assert git(project, "status", "--porcelain") == ""


def test_after_resolving_the_next_update_has_nothing_to_do(fwstart, project, tmp_path, monkeypatch):
    monkeypatch.setenv("FWSTART_TEMPLATES", str(newer_templates(tmp_path)))
    assert fwstart("update", "demo").exit_code == 3
    # Unresolved markers are never merged into again, not even with --allow-dirty.
    conflicted = (project / "configs" / "default.yaml").read_text()
    refused = fwstart("update", "demo", "--add-target", "web", "--allow-dirty")
    assert refused.exit_code == 1 and "unresolved conflicts" in refused.stderr
    assert (project / "configs" / "default.yaml").read_text() == conflicted
    (project / "configs" / "default.yaml").write_text("epochs: 30\n")
    commit_all(project, "resolved")
    again = fwstart("update", "demo")
    assert again.exit_code == 0, again.output
    assert "up to date" in again.stdout


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_add_target_equals_a_new_project_with_it_plus_my_edits(fwstart, tmp_path, framework):
    assert fwstart("new", "demo", "--framework", framework, "--yes").exit_code == 0
    project = tmp_path / "demo"
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\nMy section.\n")
    (project / "notes.md").write_text("my notes\n")
    commit_all(project)
    result = fwstart("update", "demo", "--add-target", "web", "--add-target", "edge")
    assert result.exit_code == 0, result.output
    # The new targets bring dependencies: the README's own install lines are named.
    again = " ".join(result.stdout.split()).split("install them again with ")[1]
    assert again.startswith("uv sync --extra cpu") and "npm ci --prefix web" in again
    made = fwstart(
        "new", "fresh/demo", "--framework", framework, "-t", "web", "-t", "edge", "--yes"
    )
    assert made.exit_code == 0, made.output
    fresh = tree(tmp_path / "fresh" / "demo")
    mine = tree(project)
    assert mine.pop("notes.md") == b"my notes\n"
    assert mine.pop("README.md") == fresh.pop("README.md") + b"\nMy section.\n"
    assert mine == fresh


def test_remove_target_equals_a_new_project_without_it(fwstart, tmp_path):
    flags = ["--goal", "deployment", "--framework", "pytorch", "--yes"]
    assert fwstart("new", "demo", "-t", "server", "-t", "web", *flags).exit_code == 0
    project = tmp_path / "demo"
    (project / "notes.md").write_text("my notes\n")
    commit_all(project)
    result = fwstart("update", "demo", "--remove-target", "web")
    assert result.exit_code == 0, result.output
    assert "removed web/index.html" in " ".join(result.stdout.split())
    assert fwstart("new", "fresh/demo", "-t", "server", *flags).exit_code == 0
    mine = tree(project)
    assert mine.pop("notes.md") == b"my notes\n"
    assert mine == tree(tmp_path / "fresh" / "demo")


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_with_adds_an_option_like_a_new_project_with_it(fwstart, tmp_path, framework):
    assert fwstart("new", "demo", "--framework", framework, "--yes").exit_code == 0
    project = tmp_path / "demo"
    (project / "notes.md").write_text("my notes\n")
    commit_all(project)
    result = fwstart("update", "demo", "--with", "tracking")
    assert result.exit_code == 0, result.output
    made = fwstart("new", "fresh/demo", "--framework", framework, "--with", "tracking", "--yes")
    assert made.exit_code == 0, made.output
    mine = tree(project)
    assert mine.pop("notes.md") == b"my notes\n"
    assert mine == tree(tmp_path / "fresh" / "demo")

    commit_all(project)
    removed = fwstart("update", "demo", "--without", "tracking")
    assert removed.exit_code == 0, removed.output
    assert not (project / "src" / "demo" / "tracking.py").exists()
    assert "with: []" in (project / ".fwstart-answers.yml").read_text()


def test_with_registry_adds_tracking_too_and_tracking_cannot_go_while_registry_stays(
    fwstart, project
):
    result = fwstart("update", "demo", "--with", "registry")
    assert result.exit_code == 0, result.output
    assert "--with registry needs tracking, so tracking is included too" in result.stderr
    assert "with: [tracking, registry]" in (project / ".fwstart-answers.yml").read_text()
    assert (project / "src" / "demo" / "register.py").is_file()
    commit_all(project)
    before = everything(project)
    refused = fwstart("update", "demo", "--without", "tracking")
    assert refused.exit_code == 1
    assert "registry needs tracking, which cannot go while registry stays" in refused.stderr
    assert everything(project) == before
    removed = fwstart("update", "demo", "--without", "registry", "--without", "tracking")
    assert removed.exit_code == 0, removed.output
    assert "with: []" in (project / ".fwstart-answers.yml").read_text()


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_with_monitoring_on_a_server_project_equals_a_new_one_with_it(fwstart, tmp_path, framework):
    server = ["--goal", "deployment", "-t", "edge", "-t", "server", "--framework", framework]
    assert fwstart("new", "demo", *server, "--yes").exit_code == 0
    project = tmp_path / "demo"
    result = fwstart("update", "demo", "--with", "monitoring")
    assert result.exit_code == 0, result.output
    made = fwstart("new", "fresh/demo", *server, "--with", "monitoring", "--yes")
    assert made.exit_code == 0, made.output
    assert tree(project) == tree(tmp_path / "fresh" / "demo")

    commit_all(project)
    refused = fwstart("update", "demo", "--remove-target", "server")
    assert refused.exit_code == 1
    assert "monitoring needs the target server, which cannot go while monitoring stays" in (
        " ".join(refused.stderr.split())
    )


def test_an_answers_file_from_before_the_options_means_none(fwstart, project):
    answers = project / ".fwstart-answers.yml"
    answers.write_text(answers.read_text().replace("with: []\n", ""))
    commit_all(project)
    result = fwstart("update", "demo", "--with", "tracking")
    assert result.exit_code == 0, result.output
    assert "with: [tracking]" in answers.read_text()


def test_dry_run_writes_nothing_even_on_a_dirty_tree(fwstart, project):
    (project / "notes.md").write_text("uncommitted\n")
    before = everything(project)
    result = fwstart("update", "demo", "--add-target", "web", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "added web/index.html" in " ".join(result.stdout.split())
    assert "nothing was written" in result.stdout
    assert everything(project) == before


def test_dry_run_says_what_would_conflict(fwstart, project, tmp_path, monkeypatch):
    monkeypatch.setenv("FWSTART_TEMPLATES", str(newer_templates(tmp_path)))
    before = everything(project)
    result = fwstart("update", "demo", "--dry-run")
    assert result.exit_code == 3, result.output
    text = " ".join(result.stdout.split())
    assert "Would conflict: configs/default.yaml, tests/test_data.py." in text
    assert everything(project) == before


def test_a_dirty_tree_is_refused_unless_allowed(fwstart, project):
    (project / "notes.md").write_text("uncommitted\n")
    before = everything(project)
    refused = fwstart("update", "demo", "--add-target", "web")
    assert refused.exit_code == 1
    assert "uncommitted changes (notes.md)" in " ".join(refused.stderr.split())
    assert everything(project) == before
    allowed = fwstart("update", "demo", "--add-target", "web", "--allow-dirty")
    assert allowed.exit_code == 0, allowed.output
    assert (project / "notes.md").read_text() == "uncommitted\n"
    assert (project / "web" / "index.html").is_file()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("delete", "has no .fwstart-answers.yml"),
        ("goal: [research\n", ".fwstart-answers.yml, line 2: not valid YAML"),
        ("goal: sideways\n", "key 'goal': Unknown goal 'sideways'"),
        ("project_name: demo\n", "does not record goal, targets, experience, stack, ci"),
        ("", "does not record goal, targets, experience, stack, ci, framework, project_name"),
    ],
)
def test_a_missing_or_broken_answers_file_is_a_clear_error(fwstart, project, damage, message):
    answers = project / ".fwstart-answers.yml"
    if damage == "delete":
        answers.unlink()
    else:
        answers.write_text("# broken\n" + damage)
    result = fwstart("update", "demo")
    assert result.exit_code == 1
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--framework", "tensorflow"], "This is a PyTorch project; fwstart update does not"),
        (["--framework", "banana"], "Unknown framework 'banana'"),
        (["--add-target", "banana"], "Unknown target 'banana' (--add-target)"),
        (["--remove-target", "banana"], "Unknown target 'banana' (--remove-target)"),
        (["--remove-target", "web"], "has no target web to remove"),
        (["--with", "magic"], "Unknown option 'magic' (--with)"),
        (["--without", "magic"], "Unknown option 'magic' (--without)"),
        (["--without", "tracking"], "has no option tracking to remove"),
        (["--with", "monitoring"], "--with monitoring needs --add-target server. Add --add-target"),
    ],
)
def test_answers_that_cannot_change_are_refused(fwstart, project, args, message):
    before = everything(project)
    result = fwstart("update", "demo", *args)
    assert result.exit_code == 1
    assert message in " ".join(result.stderr.split())
    assert everything(project) == before


def test_a_deployment_keeps_at_least_one_target(fwstart, tmp_path):
    assert fwstart("new", "demo", "--goal", "deployment", "-t", "web", "--yes").exit_code == 0
    result = fwstart("update", "demo", "--remove-target", "web")
    assert result.exit_code == 1
    assert "needs at least one target" in result.stderr


def test_outside_git_the_snapshot_is_the_base_and_fwstart_asks_first(
    fwstart, tmp_path, monkeypatch
):
    assert fwstart("new", "demo", "--yes", "--no-git").exit_code == 0
    project = tmp_path / "demo"
    assert (project / ".fwstart" / "base.tar.gz").is_file() and not (project / ".git").exists()
    (project / "notes.md").write_text("my notes\n")
    monkeypatch.setenv("FWSTART_TEMPLATES", str(newer_templates(tmp_path)))
    before = everything(project)
    asked = fwstart("update", "demo")
    assert asked.exit_code == 1 and "Pass --yes" in asked.stderr
    assert everything(project) == before
    result = fwstart("update", "demo", "--yes")
    assert result.exit_code == 0, result.output
    assert "epochs: 15" in (project / "configs" / "default.yaml").read_text()
    assert fwstart("update", "demo", "--yes").stdout.strip().endswith("nothing to do.")


@pytest.mark.parametrize(("answer", "code"), [("n", 1), ("y", 0)])
def test_outside_git_a_person_at_a_terminal_is_asked(fwstart, tmp_path, answer, code):
    assert fwstart("new", "demo", "--yes", "--no-git").exit_code == 0
    project = tmp_path / "demo"
    before = everything(project)
    child = pexpect.spawn(
        str(FWSTART),
        ["update", "demo", "--add-target", "web"],
        cwd=str(tmp_path),
        env={**os.environ, "TERM": "dumb"},
        encoding="utf-8",
        timeout=60,
    )
    child.expect("not in a git repository, so nothing can undo this")
    child.sendline(answer)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == code
    assert (everything(project) == before) is (answer == "n")
    if answer == "n":
        assert "Nothing was written." in child.before


def test_a_damaged_snapshot_is_a_clear_error(fwstart, tmp_path):
    assert fwstart("new", "demo", "--yes", "--no-git").exit_code == 0
    (tmp_path / "demo" / ".fwstart" / "base.tar.gz").write_bytes(b"not a tarball")
    result = fwstart("update", "demo", "--yes")
    assert result.exit_code == 1 and "base.tar.gz is damaged" in result.stderr


def test_a_project_without_a_base_gets_the_answers_changes_and_says_so(fwstart, tmp_path):
    """A project made before fwstart kept its base: changed answers still apply."""
    assert fwstart("new", "demo", "--yes", "--no-git").exit_code == 0
    shutil.rmtree(tmp_path / "demo" / ".fwstart")
    result = fwstart("update", "demo", "--add-target", "web", "--yes")
    assert result.exit_code == 0, result.output
    assert "No record of the template" in " ".join(result.stderr.split())
    assert fwstart("new", "fresh/demo", "-t", "web", "--yes", "--no-git").exit_code == 0
    mine, fresh = tree(tmp_path / "demo"), tree(tmp_path / "fresh" / "demo")
    assert mine.pop(".fwstart/base.tar.gz") == fresh.pop(".fwstart/base.tar.gz")
    assert mine == fresh


def test_a_project_in_a_subfolder_of_a_repository(fwstart, tmp_path, monkeypatch):
    git(tmp_path, "init", "-q", "outer")
    outer = tmp_path / "outer"
    assert fwstart("new", "outer/sub/demo", "--yes").exit_code == 0
    project = outer / "sub" / "demo"
    commit_all(outer, "the project")
    make_my_edits(project)
    monkeypatch.setenv("FWSTART_TEMPLATES", str(newer_templates(tmp_path)))
    result = fwstart("update", "outer/sub/demo")
    assert result.exit_code == 3, result.output
    status = git(outer, "status", "--porcelain")
    assert "UU sub/demo/configs/default.yaml" in status
    assert "M  sub/demo/src/demo/data.py" in status


def update_signalled(
    tmp_path: Path, signal_name: str, when: str
) -> subprocess.CompletedProcess[str]:
    """`fwstart update demo` in tmp_path, with a `git` on PATH that runs the real one, then
    signals fwstart after the git command that has ``when`` among its arguments."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    script = folder / "git"
    script.write_text(
        f'#!/bin/sh\n"{shutil.which("git")}" "$@"; status=$?\n'
        f'case " $* " in *" {when} "*) kill -{signal_name} $PPID; sleep 1;; esac\n'
        "exit $status\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return subprocess.run(
        [FWSTART, "update", "demo"],
        cwd=tmp_path,
        env={**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        check=False,
        # Ctrl-C as at a terminal, even where the tests run as a shell's background job
        # (which ignores it, and so would fwstart).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


@pytest.mark.parametrize("when", ["archive", "commit-tree", "update-ref", "--index-info"])
def test_an_update_killed_midway_is_undone_by_the_command_it_names(
    fwstart, project, tmp_path, monkeypatch, when
):
    monkeypatch.setenv("FWSTART_TEMPLATES", str(newer_templates(tmp_path)))
    before, status = tree(project), git(project, "status", "--porcelain")
    killed = update_signalled(tmp_path, "KILL", when)
    assert killed.returncode == -signal.SIGKILL
    if "puts the project back" in killed.stderr:
        undo = killed.stderr.split("If this is interrupted, ")[1].split(" puts the project back")[0]
        subprocess.run(undo, shell=True, cwd=tmp_path, check=True)
    assert tree(project) == before
    assert git(project, "status", "--porcelain") == status
    again = fwstart("update", "demo")  # and the update still brings in every change
    assert again.exit_code == 3
    assert (project / "src/demo/train.py").read_text().startswith("# (new template)")


@pytest.mark.parametrize(("when", "code"), [("archive", 130), ("--index-info", 3)])
def test_ctrl_c_cancels_before_writing_and_never_halfway(
    project, tmp_path, monkeypatch, when, code
):
    monkeypatch.setenv("FWSTART_TEMPLATES", str(newer_templates(tmp_path)))
    before = tree(project)
    result = update_signalled(tmp_path, "INT", when)
    assert result.returncode == code, result.stderr
    if code == 130:
        assert "Nothing was written" in result.stderr and tree(project) == before
    else:
        assert "<<<<<<< yours" in (project / "configs" / "default.yaml").read_text()


def test_templates_folder_that_does_not_exist_is_a_clear_error(fwstart, tmp_path, monkeypatch):
    monkeypatch.setenv("FWSTART_TEMPLATES", str(tmp_path / "nowhere"))
    result = fwstart("new", "demo", "--yes")
    assert result.exit_code == 1
    assert "FWSTART_TEMPLATES names" in result.stderr and not (tmp_path / "demo").exists()


def test_update_help_matches_the_snapshot(fwstart, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("TERM", "dumb")
    result = fwstart("update", "--help")
    snapshot = SNAPSHOTS / "update-help.txt"
    if os.environ.get("FWSTART_UPDATE_SNAPSHOTS"):
        snapshot.write_text(result.stdout)
    assert result.exit_code == 0
    assert result.stdout == snapshot.read_text(), "run with FWSTART_UPDATE_SNAPSHOTS=1 to update"


@pytest.mark.parametrize("mine", ["src/demo/tracking.py/mine.py", "tests/test_tracking.py"])
def test_a_folder_where_the_template_adds_a_file_is_refused_before_writing(fwstart, project, mine):
    path = project / mine
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# mine\n")
    if mine.startswith("tests/"):  # a folder where the template puts a file
        path.unlink()
        path.mkdir()
        (path / "mine.py").write_text("# mine\n")
    commit_all(project, "a folder of mine")
    before = everything(project)
    result = fwstart("update", "demo", "--with", "tracking")
    assert result.exit_code == 1, result.output
    assert "has a folder there" in " ".join(result.stderr.split())
    assert "Nothing was written" in result.stderr
    assert everything(project) == before


def test_an_update_killed_outright_leaves_nothing_behind_after_the_next(
    fwstart, project, tmp_path, monkeypatch
):
    scratch_parent = tmp_path / "tmp"
    scratch_parent.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch_parent)}
    update = [sys.executable, "-m", "fwstart", "update", "demo", "--add-target", "web"]
    killed = subprocess.Popen(update, cwd=tmp_path, env=env, stderr=subprocess.DEVNULL)
    while not any(scratch_parent.glob(".fwstart-*/new")) and killed.poll() is None:
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL, "the update finished before it could be killed"
    assert list(scratch_parent.iterdir()), "the killed update left its scratch folder"
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_parent))
    assert fwstart("update", "demo", "--add-target", "web").exit_code == 0
    assert list(scratch_parent.iterdir()) == []


# Hardening (issue 19): links, dirty trees, edited answers, killed writes, snapshots.


def test_a_folder_linked_out_of_the_project_is_never_written_through(
    fwstart, project, tmp_path, monkeypatch
):
    outside = tmp_path / "elsewhere"
    (project / "src" / "demo").rename(outside)
    (project / "src" / "demo").symlink_to(outside, target_is_directory=True)
    commit_all(project, "my package lives elsewhere")
    before, kept = tree(outside), tree(project)
    monkeypatch.setenv("FWSTART_TEMPLATES", str(newer_templates(tmp_path)))
    result = fwstart("update", "demo")
    assert result.exit_code == 3, result.output
    text = " ".join(result.stdout.split())
    for path in ("src/demo/data.py", "src/demo/train.py"):
        assert f"through a link {path}" in text and path in text.split("Conflicts to resolve")[1]
    assert "fwstart writes nothing through a symbolic link" in text
    assert tree(outside) == before
    undo = result.stdout.split("Undo with: ")[1].strip()
    subprocess.run(undo, shell=True, cwd=tmp_path, check=True)
    assert tree(project) == kept and tree(outside) == before
    assert git(project, "status", "--porcelain") == ""


def test_a_link_where_the_template_adds_a_file_is_both_added(
    fwstart, project, tmp_path, monkeypatch
):
    mine = tmp_path / "my-changes.md"
    mine.write_text("my changelog\n")
    (project / "CHANGES.md").symlink_to(mine)
    commit_all(project, "my changelog, linked")
    monkeypatch.setenv("FWSTART_TEMPLATES", str(newer_templates(tmp_path)))
    result = fwstart("update", "demo")
    assert result.exit_code == 3, result.output
    assert "both added CHANGES.md" in " ".join(result.stdout.split())
    assert (project / "CHANGES.md").is_symlink() and mine.read_text() == "my changelog\n"


def test_allow_dirty_then_undo_gives_back_my_uncommitted_edits(
    fwstart, project, tmp_path, monkeypatch
):
    monkeypatch.setenv("FWSTART_TEMPLATES", str(newer_templates(tmp_path)))
    (project / "notes.md").write_text("my notes, edited, not committed\n")
    model = project / "src" / "demo" / "model.py"
    model.write_text("# staged, not committed\n" + model.read_text())
    git(project, "add", "src/demo/model.py")
    model.write_text(model.read_text() + "# and edited again\n")
    data = project / "src" / "demo" / "data.py"  # the update changes this one too
    data.write_text("# mine, not committed\n" + data.read_text())
    (project / "README.md").unlink()
    (project / "scratch.txt").write_text("untracked\n")
    before, status = tree(project), git(project, "status", "--porcelain")
    result = fwstart("update", "demo", "--allow-dirty")
    assert result.exit_code == 3, result.output
    undo = result.stdout.split("Undo with: ")[1].strip()
    subprocess.run(undo, shell=True, cwd=tmp_path, check=True)
    assert tree(project) == before
    assert git(project, "status", "--porcelain") == status


@pytest.mark.parametrize("in_git", [True, False])
def test_an_answers_file_edited_to_another_framework_is_refused(fwstart, tmp_path, in_git):
    flags = ["--framework", "pytorch", "--yes"] + ([] if in_git else ["--no-git"])
    assert fwstart("new", "demo", *flags).exit_code == 0
    project = tmp_path / "demo"
    edit(project / ".fwstart-answers.yml", "framework: pytorch", "framework: tensorflow")
    if in_git:
        commit_all(project, "another framework, by hand")
    before = everything(project)
    result = fwstart("update", "demo", "--add-target", "web", "--yes")
    assert result.exit_code == 1, result.output
    text = " ".join(result.stderr.split())
    assert "says framework: tensorflow, but the project was made for pytorch" in text
    assert "put framework: pytorch back" in text
    assert everything(project) == before


def test_a_copy_of_the_templates_folder_makes_the_same_project(fwstart, tmp_path, monkeypatch):
    copy = tmp_path / "my-templates"
    shutil.copytree(templates_dir(), copy, symlinks=True)  # as cp -r copies: links stay links
    assert fwstart("new", "installed/demo", "--yes", "--no-git").exit_code == 0
    monkeypatch.setenv("FWSTART_TEMPLATES", str(copy))
    result = fwstart("new", "copied/demo", "--yes", "--no-git")
    assert result.exit_code == 0, result.output
    assert tree(tmp_path / "copied" / "demo") == tree(tmp_path / "installed" / "demo")


def test_a_broken_link_in_the_templates_folder_is_named(fwstart, tmp_path, monkeypatch):
    copy = tmp_path / "my-templates"
    shutil.copytree(templates_dir(), copy, symlinks=True)
    broken = copy / "pytorch" / PACKAGE_ROOT / "data" / "extra.npz"
    broken.symlink_to("../../../../nowhere/extra.npz")
    monkeypatch.setenv("FWSTART_TEMPLATES", str(copy))
    result = fwstart("new", "demo", "--framework", "pytorch", "--yes")
    assert result.exit_code == 1, result.output
    text = " ".join(result.stderr.split())
    assert f"{broken} is a link to ../../../../nowhere/extra.npz, which does not exist" in text
    assert not (tmp_path / "demo").exists()


def test_an_update_in_a_repository_without_a_commit_is_refused(fwstart, tmp_path):
    git(tmp_path, "init", "-q", "outer")
    assert fwstart("new", "outer/demo", "--yes").exit_code == 0
    before = everything(tmp_path / "outer")
    result = fwstart("update", "outer/demo", "--add-target", "web", "--allow-dirty")
    assert result.exit_code == 1, result.output
    assert "has no commit yet, so git could not undo the update" in " ".join(result.stderr.split())
    assert everything(tmp_path / "outer") == before


@pytest.mark.parametrize("in_git", [True, False])
def test_a_scratch_file_left_by_a_killed_update_goes_with_the_next(fwstart, tmp_path, in_git):
    assert fwstart("new", "demo", "--yes", *([] if in_git else ["--no-git"])).exit_code == 0
    project = tmp_path / "demo"
    # What a SIGKILL between writing the new text of configs/smoke.yaml (a file this update
    # leaves alone) and its rename leaves.
    leftover = project / "configs" / ".smoke.yaml.fwstart-new"
    leftover.write_text("half of a new config\n")
    result = fwstart("update", "demo", "--add-target", "web", "--yes")
    assert result.exit_code == 0, result.output
    assert not leftover.exists()
    if in_git:
        assert ".fwstart-new" not in git(project, "status", "--porcelain", "--ignored")


def test_dry_run_with_unresolved_conflicts_says_so(fwstart, project, tmp_path, monkeypatch):
    monkeypatch.setenv("FWSTART_TEMPLATES", str(newer_templates(tmp_path)))
    assert fwstart("update", "demo").exit_code == 3
    result = fwstart("update", "demo", "--dry-run")
    assert result.exit_code == 1, result.output
    assert "has unresolved conflicts (configs/default.yaml" in " ".join(result.stderr.split())


def test_a_snapshot_that_would_extract_too_much_is_refused(fwstart, tmp_path):
    assert fwstart("new", "demo", "--yes", "--no-git").exit_code == 0
    snapshot = tmp_path / "demo" / ".fwstart" / "base.tar.gz"
    # A member whose size passes the limit, its bytes streamed: nothing of that size is kept.
    with tarfile.open(snapshot, "w:gz") as tar:
        member = tarfile.TarInfo("data/huge.bin")
        member.size = SNAPSHOT_LIMIT_BYTES + 1
        tar.addfile(member, ZeroStream())
    result = fwstart("update", "demo", "--add-target", "web", "--yes")
    assert result.exit_code == 1, result.output
    text = " ".join(result.stderr.split())
    limit = f"would extract more than {SNAPSHOT_LIMIT_BYTES // 2**20} MiB"
    assert f"{limit} (data/huge.bin brings it to" in text


class ZeroStream(io.RawIOBase):
    """Endless zero bytes, read in pieces."""

    def readinto(self, buffer):  # type: ignore[override]
        buffer[:] = bytes(len(buffer))
        return len(buffer)


def test_a_render_on_fwstarts_ref_that_would_extract_too_much_is_refused(fwstart, tmp_path):
    assert fwstart("new", "demo", "--yes").exit_code == 0
    project = tmp_path / "demo"
    # fwstart's ref, as fetched from a remote, with a blob past the limit (stored compressed).
    huge = (
        subprocess.run(
            ["git", "hash-object", "-w", "--stdin"],
            input=bytes(SNAPSHOT_LIMIT_BYTES + 1),
            cwd=project,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    index = {**os.environ, "GIT_INDEX_FILE": str(tmp_path / "index")}
    for args in (
        ["read-tree", "refs/fwstart/base"],
        ["update-index", "--add", "--cacheinfo", f"100644,{huge},data/huge.bin"],
    ):
        subprocess.run(["git", *args], cwd=project, env=index, check=True)
    tree_id = subprocess.run(
        ["git", "write-tree"], cwd=project, env=index, capture_output=True, text=True, check=True
    ).stdout.strip()
    render = git(project, "commit-tree", tree_id, "-p", "refs/fwstart/base", "-m", "x").strip()
    git(project, "update-ref", "refs/fwstart/base", render)
    result = fwstart("update", "demo", "--add-target", "web")
    assert result.exit_code == 1, result.output
    text = " ".join(result.stderr.split())
    limit = f"would extract more than {SNAPSHOT_LIMIT_BYTES // 2**20} MiB"
    assert f"on refs/fwstart/base {limit} (data/huge.bin brings it to" in text


def pip_style_templates(tmp_path: Path) -> Path:
    """fwstart's templates as they were before uv: torch (and kornia) among the dependencies,
    no cpu or cuda extra, the dev tools in a `dev` extra, and a README that installs `.[dev]`
    with pip."""
    copy = tmp_path / "templates-pip"
    shutil.copytree(templates_dir(), copy)
    root = copy / "pytorch" / PACKAGE_ROOT
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    edit(pyproject, '  "numpy>=1.26",\n', '  "kornia>=0.8",\n  "numpy>=1.26",\n')
    edit(pyproject, '  "tqdm>=4.66",\n]', '  "torch>=2.11",\n  "tqdm>=4.66",\n]')
    text = pyproject.read_text()
    start = text.index("# PyTorch itself")
    cuda = 'cuda = ["torch>=2.11", "kornia>=0.8"]\n'
    text = text[:start] + text[text.index(cuda) + len(cuda) :]
    groups = text.index("\n[dependency-groups]\n")
    text = text[:groups] + "\n" + text[text.index("dev = [", groups) :]
    text = text[: text.index("[tool.uv]\n")] + text[text.index("[tool.hatch") :]
    pyproject.write_text(text)
    readme = root / "README.md"
    old = readme.read_text()
    start, pip = old.index("## Start\n"), old.index("With pip instead")
    readme.write_text(old[: start + 9] + "\n" + old[old.index("```bash", pip) :])
    edit(readme, "--group dev --extra-index-url", "--extra-index-url")
    edit(readme, 'pip install -e ".[cpu]"', 'pip install -e ".[dev]"')
    return copy


def test_update_carries_a_pip_style_project_over_to_uv_as_an_ordinary_merge(
    fwstart, tmp_path, monkeypatch
):
    """A project made before uv (a `dev` extra, torch a dependency), with the person's own
    dependency and dev tool: the update moves the dev tools into a dependency group, torch
    into the cpu and cuda extras, and the README to uv, keeping both of the person's lines."""
    monkeypatch.setenv("FWSTART_TEMPLATES", str(pip_style_templates(tmp_path)))
    assert fwstart("new", "demo", "--yes").exit_code == 0
    project = tmp_path / "demo"
    pyproject = project / "pyproject.toml"
    edit(pyproject, '  "pyyaml>=6",\n', '  "pyyaml>=6",\n  "rich>=13",  # mine\n')
    edit(pyproject, '  "pytest>=8",\n', '  "mypy>=1.15",  # mine\n  "pytest>=8",\n')
    commit_all(project, "my dependencies")
    assert tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]["dev"]
    monkeypatch.delenv("FWSTART_TEMPLATES")

    result = fwstart("update", "demo")
    assert result.exit_code == 0, result.output
    assert "merged pyproject.toml" in " ".join(result.stdout.split())
    merged = tomllib.loads(pyproject.read_text())
    assert "dev" not in merged["project"]["optional-dependencies"]
    assert "mypy>=1.15" in merged["dependency-groups"]["dev"]
    assert "rich>=13" in merged["project"]["dependencies"]
    assert not [r for r in merged["project"]["dependencies"] if r.startswith(("torch", "kornia"))]
    assert merged["project"]["optional-dependencies"]["cpu"] == ["torch>=2.11", "kornia>=0.8"]
    assert "\nuv sync --extra cpu" in (project / "README.md").read_text()
    assert "uv sync --extra cpu" in " ".join(result.stdout.split())  # install again, with uv
