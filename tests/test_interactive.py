"""The arrow-key questions in a real terminal (a pty), as a person answers them."""

import os
import sys
from pathlib import Path

import pexpect
import pytest
import yaml

DOWN, ENTER, SPACE, CTRL_C = "\x1b[B", "\r", " ", "\x03"
STYLE = r"(?:\x1b\[[0-9;?]*[A-Za-z])*"  # the terminal's colour codes between words


@pytest.fixture
def terminal(tmp_path: Path):
    def spawn(*args: str) -> pexpect.spawn:
        child = pexpect.spawn(
            sys.executable,
            ["-m", "fwstart", *args],
            cwd=str(tmp_path),
            # pexpect's pty does not answer cursor-position queries
            env={
                "TERM": "xterm",
                "PROMPT_TOOLKIT_NO_CPR": "1",
                "PATH": str(Path(sys.executable).parent),
                "XDG_CACHE_HOME": os.environ["XDG_CACHE_HOME"],
            },
            dimensions=(40, 120),
            encoding="utf-8",
            timeout=30,
        )
        return child

    return spawn


def test_a_person_answers_sees_the_verdict_overrides_and_gets_a_project(terminal, tmp_path):
    child = terminal("new", "demo")
    child.expect("What is the project for")
    child.expect("flag --goal")
    child.send(DOWN + ENTER)  # deployment
    child.expect("Where must the model run")
    child.expect("server  an HTTP")
    child.send(ENTER)  # nothing chosen yet: refused, the question stays open
    assert child.expect(["Which framework", pexpect.TIMEOUT], timeout=2) == 1
    child.send(SPACE + DOWN + SPACE + ENTER)  # mobile and web
    child.expect(f"Where must the model run\\? {STYLE}mobile, web")  # the choices, not a count
    child.expect("Which framework does the team already know")
    child.send(ENTER)  # neither
    child.expect("What must the model fit into")
    child.send(ENTER)  # none
    child.expect("Which CI should the project get")
    child.send(DOWN + ENTER)  # gitlab
    child.expect("What should the project include")
    child.send(SPACE + ENTER)  # tracking
    child.expect("Recommended: TensorFlow")
    child.expect("Enter accepts the recommendation")
    child.send(DOWN + ENTER)  # override: pytorch
    child.expect("Using PyTorch as you asked, instead of TensorFlow.")
    child.expect("Same project again, without questions:")
    child.expect(
        "fwstart new demo --goal deployment --target mobile --target web --ci gitlab "
        "--with tracking"
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    record = yaml.safe_load((tmp_path / "demo" / ".fwstart-answers.yml").read_text())
    assert (record["goal"], record["targets"], record["ci"], record["with"]) == (
        "deployment",
        ["mobile", "web"],
        "gitlab",
        ["tracking"],
    )
    assert (record["framework"], record["recommended"]) == ("pytorch", "tensorflow")


def test_enter_takes_every_default_and_the_recommendation(terminal, tmp_path):
    child = terminal("new")
    child.expect("Project directory")
    child.send(ENTER)  # my-project
    questions = ("project for", "Where must", "already know", "Which CI", "include", "Enter")
    for question in questions:
        child.expect(question)
        child.send(ENTER)
        if question == "Where must":
            child.expect(f"Where must the model run\\? {STYLE}none")
    child.expect("Created")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    record = yaml.safe_load((tmp_path / "my-project" / ".fwstart-answers.yml").read_text())
    assert (record["goal"], record["framework"], record["ci"]) == ("research", "pytorch", "github")


def test_ctrl_c_cancels_and_writes_nothing(terminal, tmp_path):
    child = terminal("new", "demo")
    child.expect("What is the project for")
    child.send(CTRL_C)
    child.expect("Cancelled. Nothing was written.")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert list(tmp_path.iterdir()) == []


def test_a_non_empty_directory_is_refused_before_any_question(terminal, tmp_path):
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "keep.txt").write_text("")
    child = terminal("new", "demo")
    child.expect("already exists and is not empty")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1


@pytest.mark.parametrize(
    ("args", "typed", "message"),
    [
        (["9lives"], "", "cannot start with a digit"),
        (["fastapi"], "", "hides the module 'fastapi'"),
        ([], "9lives", "cannot start with a digit"),
    ],
)
def test_an_unusable_name_is_refused_before_any_question(terminal, tmp_path, args, typed, message):
    child = terminal("new", *args)
    if typed:
        child.expect("Project directory")
        child.send("\x15" + typed + ENTER)  # Ctrl-U clears the default
    index = child.expect([message, "What is the project for"])
    child.expect(pexpect.EOF)
    child.close()
    assert index == 0 and child.exitstatus == 1
    assert list(tmp_path.iterdir()) == []
