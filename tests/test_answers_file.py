"""--answers FILE: every problem names the file, the line and the key."""

import pytest

from fwstart.answers_file import read_answers
from fwstart.errors import AnswersFileError


@pytest.fixture
def read(catalog, tmp_path):
    def read_text(text: str):
        path = tmp_path / "answers.yml"
        path.write_text(text)
        return read_answers(path, catalog.questions, catalog.frameworks)

    return read_text


def test_reads_answers_framework_and_name(read):
    saved = read(
        "project_name: demo\ngoal: deployment\ntargets: [web, mobile]\nframework: pytorch\n"
    )
    assert saved.answers == {"goal": "deployment", "targets": ("mobile", "web")}
    assert (saved.framework, saved.project_name) == ("pytorch", "demo")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("goal: research\ncolour: blue\n", "line 2, key 'colour': unknown key"),
        ("goal: production\n", "line 1, key 'goal': Unknown goal 'production'"),
        ("ci: github\ntargets: [moon]\n", "line 2, key 'targets': Unknown target 'moon'"),
        ("targets: {web: yes}\n", "line 1, key 'targets': 'targets' must be a list"),
        ("goal: [research]\n", "line 1, key 'goal': 'goal' must be a single value"),
        ("framework: jax\n", "line 1, key 'framework': unknown framework 'jax'"),
        ("goal: research\ntargets: [web\n", "line 2: not valid YAML"),
        ("goal: [research", "line 1: not valid YAML"),
        ("goal: [research\n", "line 1: not valid YAML"),
        ("goal: research\nci: gitlab\ngoal: deployment\n", "line 3, key 'goal': given twice"),
        ("project_name: ../escaped\n", "line 1, key 'project_name': '../escaped' is a path"),
        ("project_name: /tmp/abs\n", "line 1, key 'project_name': '/tmp/abs' is a path"),
        ("project_name: ..\n", "line 1, key 'project_name': '..' is a path"),
        ("- goal\n", "line 1: expected 'key: value' lines"),
        ("project_name: 12\n", "line 1, key 'project_name': must be text"),
    ],
)
def test_problems_name_file_line_and_key(read, tmp_path, text, expected):
    with pytest.raises(AnswersFileError) as error:
        read(text)
    assert str(tmp_path / "answers.yml") in error.value.message
    assert expected in error.value.message
    assert error.value.hint


def test_missing_file_is_named(catalog, tmp_path):
    with pytest.raises(AnswersFileError, match="does not exist"):
        read_answers(tmp_path / "nope.yml", catalog.questions, catalog.frameworks)


def test_empty_file_means_no_answers(read):
    assert read("").answers == {}
