import ast
import re
import tomllib
from pathlib import Path

import pytest

from fwstart.errors import InputError
from fwstart.naming import project_names


@pytest.mark.parametrize(
    ("directory", "package"),
    [
        ("demo-pt", "demo_pt"),
        ("My Project", "my_project"),
        ("class", "class_"),
        ("-leading-dash", "leading_dash"),
        ("{{ name }}", "name"),
        ("résumé", "resume"),
    ],
)
def test_directory_names_become_package_names(directory, package):
    names = project_names(Path("/somewhere") / directory)
    assert names.package == package
    assert names.project == directory
    assert names.distribution == package.replace("_", "-")


@pytest.mark.parametrize(
    ("directory", "reason"),
    [
        ("2fast", "cannot start with a digit"),
        ("{{ 7*7 }}", "cannot start with a digit"),
        ("---", "Cannot make a Python package name"),
        ("json", "hides the module 'json'"),
        ("torch", "hides the module 'torch'"),
    ],
)
def test_unusable_names_are_refused_with_a_reason(directory, reason):
    with pytest.raises(InputError, match=reason) as error:
        project_names(Path(directory), reserved=frozenset({"torch"}))
    assert error.value.hint


def rendered_project(fwstart, tmp_path: Path, framework: str) -> Path:
    """The largest project of a framework: every target, the server's extras, CI."""
    every_target = [arg for t in ("mobile", "web", "edge", "server") for arg in ("--target", t)]
    args = ["new", f"all-{framework}", "--goal", "deployment", *every_target]
    assert fwstart(*args, "--framework", framework, "--yes").exit_code == 0
    return tmp_path / f"all-{framework}"


def declared_and_imported(project: Path) -> set[str]:
    """Every distribution the project declares and every module its Python code imports."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    requirements = [
        *pyproject["build-system"]["requires"],
        *pyproject["project"]["dependencies"],
        *(r for extra in pyproject["project"]["optional-dependencies"].values() for r in extra),
    ]
    names = {re.match(r"[A-Za-z0-9._-]+", r)[0] for r in requirements}
    names -= {pyproject["project"]["name"]}
    for path in project.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - {project.name.replace("-", "_")}


@pytest.mark.parametrize("framework", ["pytorch", "tensorflow"])
def test_no_project_may_shadow_what_a_starter_imports_or_depends_on(fwstart, tmp_path, framework):
    """Checked against a real generated project, not against fwstart's own list."""
    names = declared_and_imported(rendered_project(fwstart, tmp_path, framework))
    assert {"fastapi", "tqdm" if framework == "pytorch" else "keras", "prometheus-client"} <= names
    accepted = [name for name in sorted(names) if fwstart("new", name, "--yes").exit_code == 0]
    assert accepted == []


@pytest.mark.parametrize("name", ["test", "json", "fastapi", "tqdm", "prometheus-client", "PIL"])
def test_a_shadowing_name_is_refused_with_the_reason(fwstart, tmp_path, name):
    result = fwstart("new", name, "--yes")
    assert result.exit_code == 1 and "which hides the module" in result.stderr
    assert not (tmp_path / name).exists()
