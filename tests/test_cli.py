"""fwstart's command line, used as the README shows."""

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from fwstart import __version__

from .conftest import tree

SNAPSHOTS = Path(__file__).parent / "snapshots"


def leftovers(root: Path) -> list[str]:
    """Temporary folders fwstart might have left behind."""
    return [p.name for p in root.iterdir() if p.name.startswith(".fwstart-")]


def test_version(fwstart):
    result = fwstart("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"fwstart {__version__}"


@pytest.mark.parametrize("command", ["new", "recommend"])
def test_help_matches_the_snapshot(fwstart, monkeypatch, command):
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("TERM", "dumb")
    result = fwstart(command, "--help")
    snapshot = SNAPSHOTS / f"{command}-help.txt"
    if os.environ.get("FWSTART_UPDATE_SNAPSHOTS"):
        snapshot.write_text(result.stdout)
    assert result.exit_code == 0
    assert result.stdout == snapshot.read_text(), "run with FWSTART_UPDATE_SNAPSHOTS=1 to update"


def test_help_names_every_choice_in_the_data(fwstart, catalog, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    text = " ".join(fwstart("new", "--help").stdout.split())
    for question in catalog.questions:
        assert question.flag in text
        for choice in question.choices:
            assert choice in text, f"{question.flag} help does not mention {choice}"
    for name in catalog.frameworks:
        assert name in text


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
@pytest.mark.parametrize("ci", ["github", "gitlab", "none"])
def test_new_generates_a_project_and_records_the_answers(fwstart, tmp_path, framework, ci):
    result = fwstart(
        "new",
        "demo-app",
        "--goal",
        "deployment",
        "--target",
        "web",
        "--framework",
        framework,
        "--ci",
        ci,
        "--yes",
    )
    assert result.exit_code == 0, result.output
    project = tmp_path / "demo-app"
    record = yaml.safe_load((project / ".fwstart-answers.yml").read_text())
    assert record == {
        "fwstart_version": __version__,
        "project_name": "demo-app",
        "goal": "deployment",
        "targets": ["web"],
        "experience": "neither",
        "stack": "none",
        "ci": ci,
        "with": [],
        "framework": framework,
        "recommended": "tensorflow",
    }
    assert (project / "src" / "demo_app" / "train.py").is_file()
    assert (project / ".github" / "workflows" / "ci.yml").exists() == (ci == "github")
    assert (project / ".gitlab-ci.yml").exists() == (ci == "gitlab")
    assert not (project / ".github").exists() or ci == "github", "no empty folders are left"
    assert "python -m demo_app.train" in result.stdout
    assert "uv sync --extra cpu" in result.stdout
    assert "npm ci --prefix web" in result.stdout
    assert "--target web" in result.stdout and f"--framework {framework} --yes" in result.stdout
    assert not leftovers(tmp_path)


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_with_tracking_is_recorded_and_adds_mlflow(fwstart, tmp_path, framework):
    result = fwstart("new", "demo-app", "--with", "tracking", "--framework", framework, "--yes")
    assert result.exit_code == 0, result.output
    project = tmp_path / "demo-app"
    assert yaml.safe_load((project / ".fwstart-answers.yml").read_text())["with"] == ["tracking"]
    assert "--with tracking" in result.stdout  # the replay command
    assert (project / "src" / "demo_app" / "tracking.py").is_file()
    assert "tracking.run(" in (project / "src" / "demo_app" / "train.py").read_text()
    assert '"mlflow-skinny' in (project / "pyproject.toml").read_text()
    assert "mlruns/" in (project / ".gitignore").read_text().splitlines()
    readme = (project / "README.md").read_text()
    assert "mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db" in readme


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_with_tuning_adds_optuna_and_both_options_are_recorded_in_order(
    fwstart, tmp_path, framework
):
    args = ["--with", "tuning", "--with", "tracking", "--framework", framework, "--yes"]
    result = fwstart("new", "demo-app", *args)
    assert result.exit_code == 0, result.output
    project = tmp_path / "demo-app"
    record = yaml.safe_load((project / ".fwstart-answers.yml").read_text())
    assert record["with"] == ["tracking", "tuning"]
    assert "--with tracking --with tuning" in result.stdout
    assert (project / "src" / "demo_app" / "tune.py").is_file()
    assert (project / "configs" / "search.yaml").is_file()
    assert '"optuna' in (project / "pyproject.toml").read_text()
    assert "python -m demo_app.tune --trials" in (project / "README.md").read_text()


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_with_registry_adds_tracking_says_so_and_adds_register_and_serve_model(
    fwstart, tmp_path, framework
):
    flags = ["--goal", "deployment", "-t", "server", "--framework", framework]
    result = fwstart("new", "demo-app", "--with", "registry", *flags, "--yes")
    assert result.exit_code == 0, result.output
    note = "Note: --with registry needs tracking, so tracking is included too."
    assert note in " ".join(result.stderr.split())
    project = tmp_path / "demo-app"
    record = yaml.safe_load((project / ".fwstart-answers.yml").read_text())
    assert record["with"] == ["tracking", "registry"]
    assert "--with tracking --with registry" in result.stdout  # the replay command
    package = project / "src" / "demo_app"
    assert {"tracking.py", "register.py", "registered.py"} <= {p.name for p in package.iterdir()}
    assert "--model-cache" in (package / "serve.py").read_text()
    serve_extra = tomllib.loads((project / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["serve"]
    assert any(requirement.startswith("mlflow-skinny") for requirement in serve_extra)
    readme = (project / "README.md").read_text()
    assert "python -m demo_app.register --alias champion" in readme
    assert "python -m demo_app.serve --model models:/demo-app@champion" in readme


def test_registry_without_a_server_adds_no_serving_code(fwstart, tmp_path):
    flags = ["--goal", "deployment", "-t", "edge", "--with", "registry", "--yes"]
    assert fwstart("new", "demo-app", *flags).exit_code == 0
    package = tmp_path / "demo-app" / "src" / "demo_app"
    assert (package / "register.py").is_file() and not (package / "registered.py").exists()
    assert "models:/" not in (tmp_path / "demo-app" / "README.md").read_text()


def test_an_answers_file_with_registry_alone_gets_tracking_too(fwstart, tmp_path):
    assert fwstart("new", "first", "--yes").exit_code == 0
    answers = tmp_path / "first" / ".fwstart-answers.yml"
    answers.write_text(answers.read_text().replace("with: []", "with: [registry]"))
    result = fwstart("new", "second", "--answers", str(answers), "--yes")
    assert result.exit_code == 0, result.output
    assert "so tracking is included too" in result.stderr
    record = yaml.safe_load((tmp_path / "second" / ".fwstart-answers.yml").read_text())
    assert record["with"] == ["tracking", "registry"]


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_with_monitoring_adds_the_monitor_alerts_and_a_dashboard(fwstart, tmp_path, framework):
    flags = ["--goal", "deployment", "-t", "server", "--with", "monitoring"]
    result = fwstart("new", "demo-app", *flags, "--framework", framework, "--yes")
    assert result.exit_code == 0, result.output
    project = tmp_path / "demo-app"
    assert yaml.safe_load((project / ".fwstart-answers.yml").read_text())["with"] == ["monitoring"]
    assert "--with monitoring" in result.stdout
    for name in ("drift.py", "sample_log.py", "monitor.py"):
        assert (project / "src" / "demo_app" / name).is_file()
    monitoring = project / "deploy" / "monitoring"
    assert sorted(p.name for p in monitoring.iterdir()) == [
        "alerts.test.yml",
        "alerts.yml",
        "dashboard.json",
        "prometheus.yml",
    ]
    assert '"scipy' in (project / "pyproject.toml").read_text()
    assert "/monitoring/" in (project / ".gitignore").read_text().splitlines()
    git = ["git", "-C", str(project), "check-ignore", "-q"]
    assert subprocess.run([*git, "monitoring/samples.jsonl"]).returncode == 0
    assert subprocess.run([*git, "deploy/monitoring/alerts.yml"]).returncode == 1
    readme = (project / "README.md").read_text()
    assert "python -m demo_app.monitor --artifacts artifacts" in readme
    assert "promtool check rules deploy/monitoring/alerts.yml" in readme
    assert "emptyDir" in (project / "deploy" / "kubernetes" / "deployment.yaml").read_text()


@pytest.mark.parametrize(
    "how",
    [["--with", "monitoring"], ["--goal", "deployment", "-t", "web", "--with", "monitoring"]],
)
def test_monitoring_without_the_server_target_is_refused(fwstart, tmp_path, how):
    result = fwstart("new", "demo-app", *how, "--yes")
    assert result.exit_code == 1
    assert "--with monitoring needs --target server." in result.stderr
    assert "Add --target server, or leave out --with monitoring." in result.stderr
    assert not (tmp_path / "demo-app").exists()


def test_an_answers_file_with_monitoring_but_no_server_is_refused(fwstart, tmp_path):
    answers = tmp_path / "answers.yml"
    answers.write_text("goal: deployment\ntargets: [web]\nwith: [monitoring]\n")
    result = fwstart("new", "demo-app", "--answers", str(answers), "--yes")
    assert result.exit_code == 1
    assert "--with monitoring needs --target server." in result.stderr
    assert not (tmp_path / "demo-app").exists()


# Words only the --with options write.
OPTION_WORDS = (
    "mlflow",
    "mlruns",
    "optuna",
    "tracking.py",
    "tune.py",
    "register.py",
    "models:/",
    "drift",
    "scipy",
)


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_an_option_not_chosen_leaves_no_trace(fwstart, tmp_path, framework):
    flags = ["--goal", "deployment", "-t", "server", "-t", "web", "--framework", framework]
    assert fwstart("new", "demo-app", *flags, "--yes").exit_code == 0
    project = tmp_path / "demo-app"
    for path in project.rglob("*"):
        if path.is_file() and ".git" not in path.parts and path.suffix != ".npz":
            text = path.read_text(errors="replace").lower()
            for word in OPTION_WORDS:
                assert word not in text, f"{path.relative_to(project)} mentions {word}"


def test_defaults_make_a_research_project_with_pytorch(fwstart, tmp_path):
    result = fwstart("new", "--yes")
    assert result.exit_code == 0, result.output
    record = yaml.safe_load((tmp_path / "my-project" / ".fwstart-answers.yml").read_text())
    assert (record["goal"], record["targets"], record["framework"]) == ("research", [], "pytorch")
    assert not (tmp_path / "my-project" / "web").exists()
    assert "npm ci" not in result.stdout


def test_without_a_terminal_fwstart_says_it_takes_the_defaults(fwstart, tmp_path):
    result = fwstart("new", "quiet-app", input="")
    assert result.exit_code == 0, result.output
    assert "stdin is not a terminal" in result.stderr
    assert (tmp_path / "quiet-app" / "pyproject.toml").is_file()


def test_override_is_honoured_and_the_reasons_against_it_shown_once(fwstart, tmp_path):
    result = fwstart(
        "new",
        "app",
        "--goal",
        "deployment",
        "--target",
        "mobile",
        "--framework",
        "pytorch",
        "--yes",
    )
    assert result.exit_code == 0, result.output
    assert "Using PyTorch as you asked, instead of TensorFlow." in result.stdout
    assert result.stdout.count("Mobile: LiteRT") == 2  # in the verdict table, then once more
    readme = (tmp_path / "app" / "README.md").read_text()
    assert "fwstart recommended TensorFlow; PyTorch was chosen instead" in readme


def test_answers_file_replays_an_identical_project(fwstart, tmp_path):
    first = fwstart(
        "new",
        "one/demo",
        "--goal",
        "deployment",
        "--target",
        "edge",
        "--target",
        "server",
        "--experience",
        "pytorch",
        "--stack",
        "pytorch",
        "--ci",
        "gitlab",
        "--yes",
    )
    assert first.exit_code == 0, first.output
    again = fwstart("new", "two/demo", "--answers", "one/demo/.fwstart-answers.yml", "--yes")
    assert again.exit_code == 0, again.output
    assert tree(tmp_path / "one" / "demo") == tree(tmp_path / "two" / "demo")


def test_flags_override_the_answers_file(fwstart, tmp_path):
    (tmp_path / "answers.yml").write_text("goal: deployment\ntargets: [web]\nci: gitlab\n")
    result = fwstart("new", "app", "--answers", "answers.yml", "--ci", "none", "--yes")
    assert result.exit_code == 0, result.output
    record = yaml.safe_load((tmp_path / "app" / ".fwstart-answers.yml").read_text())
    assert (record["goal"], record["targets"], record["ci"]) == ("deployment", ["web"], "none")


@pytest.mark.parametrize(
    ("args", "message", "hint"),
    [
        (["--goal", "fun"], "Unknown goal 'fun' (--goal).", "Choose from: research, deployment."),
        (
            ["--target", "banana"],
            "Unknown target 'banana' (--target).",
            "Choose from: mobile, web, edge, server.",
        ),
        (
            ["--framework", "jax"],
            "Unknown framework 'jax' (--framework).",
            "Choose from: pytorch, tensorflow.",
        ),
        (["--ci", "jenkins"], "Unknown ci 'jenkins' (--ci).", "Choose from: github, gitlab, none."),
        (["--with", "magic"], "Unknown option 'magic' (--with).", "Choose from: tracking"),
        (
            ["--goal", "deployment"],
            "A deployment project needs at least one target.",
            "Add --target with one of: mobile, web, edge, server.",
        ),
        (["--answers", "missing.yml"], "missing.yml does not exist.", "--answers"),
        (
            ["--stack", "pytorch"],
            "--stack pytorch does not apply: it counts only when goal is deployment, "
            "and here goal is research.",
            "Leave out --stack",
        ),
    ],
)
def test_bad_input_is_explained_and_nothing_is_written(fwstart, tmp_path, args, message, hint):
    result = fwstart("new", "app", *args, "--yes")
    assert result.exit_code == 1
    assert message in result.stderr and hint in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "app").exists() and not leftovers(tmp_path)


def test_a_non_empty_directory_needs_force_and_keeps_the_persons_files(fwstart, tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "notes.md").write_text("mine")
    refused = fwstart("new", "app", "--yes")
    assert refused.exit_code == 1 and "already exists and is not empty" in refused.stderr
    assert "--force" in refused.stderr
    assert sorted(p.name for p in (tmp_path / "app").iterdir()) == ["notes.md"]

    forced = fwstart("new", "app", "--yes", "--force")
    assert forced.exit_code == 0, forced.output
    assert (tmp_path / "app" / "notes.md").read_text() == "mine"
    assert (tmp_path / "app" / "pyproject.toml").is_file()


def test_force_never_replaces_a_file_and_writes_nothing_on_a_clash(fwstart, tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "README.md").write_text("my readme")
    result = fwstart("new", "app", "--yes", "--force")
    assert result.exit_code == 1
    assert "already holds files the starter would write: README.md" in result.stderr
    assert tree(tmp_path / "app") == {"README.md": b"my readme"}
    assert not leftovers(tmp_path)


def test_missing_parent_folders_are_created(fwstart, tmp_path):
    result = fwstart("new", "some/new/place/app", "--yes")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "some" / "new" / "place" / "app" / "pyproject.toml").is_file()


def test_a_path_through_a_file_is_refused(fwstart, tmp_path):
    (tmp_path / "plain.txt").write_text("")
    result = fwstart("new", "plain.txt/app", "--yes")
    assert result.exit_code == 1 and "plain.txt is a file" in result.stderr


def test_template_syntax_in_a_parent_folder_is_data_too(fwstart, tmp_path):
    result = fwstart("new", "{{ here }}/app", "--yes")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "{{ here }}" / "app" / "src" / "app" / "train.py").is_file()


def test_typed_text_is_data_never_a_template(fwstart, tmp_path):
    result = fwstart("new", "{{ name }}", "--yes")
    assert result.exit_code == 0, result.output
    project = tmp_path / "{{ name }}"
    assert (project / "README.md").read_text().startswith("# {{ name }}\n")
    assert (project / "src" / "name" / "__init__.py").is_file()
    evaluated = fwstart("new", "{{ 7*7 }}", "--yes")
    assert evaluated.exit_code == 1 and "cannot start with a digit" in evaluated.stderr
    assert not (tmp_path / "49").exists() and not (tmp_path / "{{ 7*7 }}").exists()


@pytest.mark.parametrize(("name", "package"), [("class", "class_"), ("My App", "my_app")])
def test_awkward_names_become_valid_packages(fwstart, tmp_path, name, package):
    result = fwstart("new", name, "--yes")
    assert result.exit_code == 0, result.output
    assert (tmp_path / name / "src" / package / "__init__.py").is_file()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("new\nline", "holds the control character '\\n'"),
        ("tab\there", "holds the control character '\\t'"),
        ("bad\udcffname", "The directory name b'bad\\xffname' is not valid UTF-8"),
    ],
)
def test_names_with_control_characters_or_bytes_that_are_not_utf8_are_refused(
    fwstart, tmp_path, name, reason
):
    result = fwstart("new", name, "--yes")
    assert result.exit_code == 1 and reason in result.stderr
    assert "template" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_top_level_help_shows_each_command_whole(fwstart, catalog, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("TERM", "dumb")
    result = fwstart("--help")
    snapshot = SNAPSHOTS / "help.txt"
    if os.environ.get("FWSTART_UPDATE_SNAPSHOTS"):
        snapshot.write_text(result.stdout)
    commands = result.stdout.split("Commands:")[1].splitlines()
    assert [line for line in commands if line.endswith("...")] == [], "cut off"
    assert result.stdout == snapshot.read_text(), "run with FWSTART_UPDATE_SNAPSHOTS=1 to update"


def test_recommend_prints_a_table(fwstart):
    result = fwstart("recommend", "--goal", "research")
    assert result.exit_code == 0
    assert "Recommended: PyTorch" in result.stdout and "Scores:" in result.stdout


def test_recommend_json(fwstart):
    result = fwstart("recommend", "--goal", "deployment", "--target", "web", "--json")
    verdict = json.loads(result.stdout)
    assert set(verdict) == {"framework", "reasons", "scores"}
    assert verdict["framework"] == "tensorflow"
    assert verdict["scores"] == {"pytorch": 0, "tensorflow": 4}
    assert any(reason.startswith("Web: LiteRT.js") for reason in verdict["reasons"])


def test_installed_command_runs_in_a_real_process(tmp_path):
    command = [
        sys.executable,
        "-m",
        "fwstart",
        "new",
        "real-app",
        "--goal",
        "deployment",
        "--target",
        "server",
        "--yes",
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "Recommended: TensorFlow" in result.stdout
    assert (tmp_path / "real-app" / "src" / "real_app" / "export.py").is_file()
    bad = subprocess.run(
        [sys.executable, "-m", "fwstart", "new", "x", "--goal", "fun", "--yes"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr


README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_set_up_makes_the_project_outside_the_clone(fwstart, tmp_path, monkeypatch):
    command = re.search(r"```bash\nuv run (fwstart .*)\n", README.read_text())
    clone = tmp_path / "clone"
    clone.mkdir()
    monkeypatch.chdir(clone)
    result = fwstart(*shlex.split(command[1])[1:])
    assert result.exit_code == 0, result.output
    assert list(clone.iterdir()) == [], "README's set-up must not write into fwstart's clone"
    assert (tmp_path / "my-project" / "pyproject.toml").is_file()


def test_readme_example_shows_what_the_command_really_prints(fwstart, monkeypatch):
    example = re.search(
        r"```console\n\$ (fwstart [^\n]*)\n.*?^(Created [^\n]*)$", README.read_text(), re.S | re.M
    )
    monkeypatch.setenv("COLUMNS", "100")
    result = fwstart(*shlex.split(example[1])[1:])
    assert result.exit_code == 0, result.output
    created = next(line for line in result.stdout.splitlines() if line.startswith("Created "))
    assert created.split(" — ")[1] == example[2].split(" — ")[1]


@pytest.mark.parametrize(
    "args", [[], ["--goal", "deployment", "--target", "web", "--target", "server"]]
)
@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_next_steps_are_the_generated_readmes_start_section(fwstart, tmp_path, framework, args):
    result = fwstart("new", "app", *args, "--framework", framework, "--yes")
    assert result.exit_code == 0, result.output
    readme = (tmp_path / "app" / "README.md").read_text()
    start = re.search(r"^## Start\n.*?```bash\n(.*?)```", readme, re.S | re.M)[1]
    printed = result.stdout.split("Next:\n")[1].split("Same project again")[0]
    steps = [line.strip() for line in printed.splitlines()]
    assert steps[0] == f"cd {tmp_path / 'app'}"
    assert steps[1:] == [line.strip() for line in start.splitlines() if line.strip()]
    assert any(".predict " in step for step in steps)
    assert any(".export" in step for step in steps) == bool(args), "research: nothing to export"


def test_the_created_path_is_printed_tidy(fwstart, tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    result = fwstart("new", "link/../real/./app", "--yes")
    assert result.exit_code == 0, result.output
    assert f"Created {tmp_path / 'real' / 'app'} — " in result.stdout
    assert f"cd {tmp_path / 'real' / 'app'}\n" in result.stdout


def test_names_are_printed_as_typed_never_as_emoji_codes(fwstart, tmp_path):
    result = fwstart("new", "a:smile:b", "--yes")
    assert result.exit_code == 0, result.output
    assert f"Created {tmp_path / 'a:smile:b'} — " in result.stdout


@pytest.mark.parametrize("args", [["new", "--bogus"], ["new", "--goal"], ["update", "--nope"]])
def test_a_flag_fwstart_does_not_know_is_a_usage_error(fwstart, tmp_path, args):
    result = fwstart(*args)
    assert result.exit_code == 2
    assert "Error: " in result.output and args[1] in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []
