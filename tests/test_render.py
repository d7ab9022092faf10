"""The rendering engine, on tiny templates built in the test: a broken template leaves nothing."""

import json
import shutil
from pathlib import Path

import pytest

from fwstart.api import load_catalog, new_project
from fwstart.errors import InputError, TemplateError
from fwstart.questions import Answers

from .conftest import tree

ROOT = Path(__file__).resolve().parents[1]
RULES = """
close_call_margin: 1
rules:
  - {when: {goal: research}, favours: tiny, points: 1, reason: Tiny suits research.}
tie_break:
  - {when: {goal: research}, favours: tiny, reason: Tiny wins ties.}
"""
FRAMEWORKS = """
tiny:
  label: Tiny
  targets: [mobile, web, edge, server]
  artifacts: {}
"""
CONTEXT = {
    "project_name": "x",
    "package_name": "x",
    "distribution_name": "x",
    "goal": ["research", "deployment"],
    "mobile": False,
    "web": False,
    "edge": False,
    "server": False,
    "ci": ["github", "gitlab", "none"],
    "tracking": False,
    "tuning": False,
    "registry": False,
    "monitoring": False,
    "verdict": {},
    "fwstart_version": "0",
}
ANSWERS = Answers(goal="research", targets=(), experience="neither", stack="none", ci="none")


def build(tmp_path: Path, files: dict[str, str], frameworks: str = FRAMEWORKS) -> tuple[Path, Path]:
    """A data folder and a templates folder holding one template, 'tiny', with ``files``."""
    data, templates = tmp_path / "data", tmp_path / "templates"
    data.mkdir()
    shutil.copy(ROOT / "data" / "questions.yaml", data)
    (data / "rules.yaml").write_text(RULES)
    (data / "frameworks.yaml").write_text(frameworks)
    top = templates / "tiny" / "{{cookiecutter.package_name}}"
    top.mkdir(parents=True)
    (templates / "tiny" / "cookiecutter.json").write_text(json.dumps(CONTEXT))
    for name, text in files.items():
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_text(text)
    return data, templates


def test_a_tiny_template_renders(tmp_path):
    catalog = load_catalog(*build(tmp_path, {"README.md": "# {{ cookiecutter.project_name }}\n"}))
    made = new_project(catalog, tmp_path / "out" / "demo", ANSWERS)
    assert (made.path / "README.md").read_text() == "# demo\n"
    assert made.framework.name == "tiny"


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({"a.py": "x = '{% raw %}{{ leftover }}{% endraw %}'\n"}, "a.py: template syntax '{{'"),
        ({"ci.yml": "key: [unclosed\n"}, "ci.yml: does not parse"),
        ({"m.py": "def broken(:\n"}, "m.py: does not parse"),
        ({"README.md": "{{ cookiecutter.nothing }}\n"}, "failed to render"),
    ],
)
def test_a_broken_template_fails_and_leaves_nothing(tmp_path, files, problem):
    catalog = load_catalog(*build(tmp_path, files))
    with pytest.raises(TemplateError) as error:
        new_project(catalog, tmp_path / "new" / "deeper" / "demo", ANSWERS)
    assert problem in error.value.message
    assert not (tmp_path / "new").exists(), "folders made for the project must be removed"
    assert not list(tmp_path.glob(".fwstart-*"))


def test_a_template_without_data_is_an_error(tmp_path):
    data, templates = build(tmp_path, {"README.md": "x\n"})
    (templates / "extra").mkdir()
    (templates / "extra" / "cookiecutter.json").write_text("{}")
    with pytest.raises(TemplateError, match="without an entry"):
        load_catalog(data, templates)


def test_data_without_a_template_is_an_error(tmp_path):
    more = FRAMEWORKS + FRAMEWORKS.replace("tiny:", "ghost:")
    with pytest.raises(TemplateError, match="without a template"):
        load_catalog(*build(tmp_path, {"README.md": "x\n"}, frameworks=more))


def test_a_variable_fwstart_does_not_set_is_an_error(tmp_path):
    data, templates = build(tmp_path, {"README.md": "x\n"})
    context = {**CONTEXT, "licence": "{{ cookiecutter.project_name }} licence"}
    (templates / "tiny" / "cookiecutter.json").write_text(json.dumps(context))
    with pytest.raises(TemplateError, match="'licence' is computed"):
        new_project(load_catalog(data, templates), tmp_path / "demo", ANSWERS)
    assert not (tmp_path / "demo").exists()


def test_the_next_steps_are_the_rendered_readmes_start_section(tmp_path):
    readme = (
        "# {{ cookiecutter.project_name }}\n\n## Start\n\n```bash\n"
        "pip install -e .\n{% if cookiecutter.web %}npm ci\n{% endif %}"
        "python -m {{ cookiecutter.package_name }}\n```\n\n## Other\n\n```bash\nnot a step\n```\n"
    )
    catalog = load_catalog(*build(tmp_path, {"README.md": readme}))
    made = new_project(catalog, tmp_path / "out" / "demo-app", ANSWERS)
    assert made.next_steps == ("pip install -e .", "python -m demo_app")


def test_names_a_template_imports_or_declares_are_reserved(tmp_path):
    pyproject = (
        '[project]\nname = "{{ cookiecutter.distribution_name }}"\ndependencies = [\n'
        '  "tiny-runtime>=1",  # a comment\n'
        "{% if cookiecutter.web %}  \"web.kit[x]; python_version > '3'\",\n"
        '{% endif %}]\n[project.optional-dependencies]\ndev = ["checker"]\n'
        '[tool.other]\nlist = ["not-a-dependency"]\n'
    )
    files = {
        "pyproject.toml": pyproject,
        "src/{{ cookiecutter.package_name }}/{% if cookiecutter.web %}m.py{% endif %}": (
            "import tinylib.sub\nfrom otherlib import x\nfrom . import y\n"
        ),
    }
    catalog = load_catalog(*build(tmp_path, files))
    for name in ("tiny-runtime", "web-kit", "checker", "tinylib", "otherlib"):
        with pytest.raises(InputError, match="hides the module"):
            catalog.check_location(tmp_path / name)
    assert catalog.check_location(tmp_path / "not-a-dependency").package == "not_a_dependency"


def test_compiled_templates_are_cached_and_give_the_same_project(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    files = {"README.md": "# {{ cookiecutter.project_name }}\n", "a.py": "X = 1\n"}
    catalog = load_catalog(*build(tmp_path, files))
    first = new_project(catalog, tmp_path / "one" / "demo", ANSWERS)
    folder = tmp_path / "cache" / "fwstart" / "jinja2" / "tiny"
    cached = {path: path.stat().st_mtime_ns for path in folder.iterdir()}
    assert len(cached) == 2, "one compiled template per file"
    second = new_project(catalog, tmp_path / "two" / "demo", ANSWERS)
    assert {path: path.stat().st_mtime_ns for path in folder.iterdir()} == cached, "reused"
    assert tree(first.path) == tree(second.path)


def test_a_cache_that_cannot_be_written_costs_nothing_but_time(tmp_path, monkeypatch):
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))
    catalog = load_catalog(*build(tmp_path, {"README.md": "# {{ cookiecutter.project_name }}\n"}))
    made = new_project(catalog, tmp_path / "demo", ANSWERS)
    assert (made.path / "README.md").read_text() == "# demo\n"
