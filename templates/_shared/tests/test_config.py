import re
from dataclasses import fields

import pytest

from {{ cookiecutter.package_name }}.config import Config, load_config, parse_override
from {{ cookiecutter.package_name }}.train import parse_args, settings

from .conftest import ROOT


def test_default_config_sets_every_field():
    raw = (ROOT / "configs" / "default.yaml").read_text()
    for field in fields(Config):
        assert f"\n{field.name}:" in "\n" + raw


def test_smoke_config_keeps_the_defaults_it_does_not_set(default_config):
    smoke = load_config(ROOT / "configs" / "smoke.yaml")
    assert smoke.epochs < default_config.epochs
    assert smoke.learning_rate == default_config.learning_rate


def test_flags_override_the_config_file():
    args = parse_args(
        [
            "--config",
            str(ROOT / "configs" / "smoke.yaml"),
            "--epochs",
            "5",
            "--seed",
            "7",
            "--set",
            "learning_rate=0.01",
{%- if cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server %}
            "--set",
            "targets=[]",
{%- endif %}
        ]
    )
    config = settings(args)
    assert (config.epochs, config.seed, config.learning_rate{% if cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server %}, config.targets{% endif %}) == (5, 7, 0.01{% if cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server %}, (){% endif %})


@pytest.mark.parametrize(
    ("override", "named"),
    [  # the error names what was wrong
        ("lr=0.1", "lr"),
        ("epochs=ten", "epochs"),
{%- if cookiecutter.mobile or cookiecutter.web or cookiecutter.edge or cookiecutter.server %}
        ("targets=[moon]", "moon"),
{%- endif %}
        ("epochs=0", "epochs"),
    ],
)
def test_bad_overrides_are_explained(override, named):
    with pytest.raises(ValueError, match=named):
        load_config(ROOT / "configs" / "default.yaml", dict([parse_override(override)]))


def test_a_config_file_is_named_as_typed_and_must_sit_beside_default_yaml(tmp_path):
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "mine.yaml"))):
        load_config(tmp_path / "mine.yaml")
    (tmp_path / "mine.yaml").write_text("epochs: 3\n")
    with pytest.raises(ValueError, match="default.yaml"):
        load_config(tmp_path / "mine.yaml")


def test_bad_yaml_is_one_line_with_its_line_number(tmp_path):
    (tmp_path / "default.yaml").write_text((ROOT / "configs" / "default.yaml").read_text())
    (tmp_path / "mine.yaml").write_text("epochs: 3\nseed: [1\n")
    with pytest.raises(ValueError) as raised:
        load_config(tmp_path / "mine.yaml")
    assert "mine.yaml" in str(raised.value) and re.search(r"\b3\b", str(raised.value))
    assert "\n" not in str(raised.value)
