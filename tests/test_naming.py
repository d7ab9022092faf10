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
