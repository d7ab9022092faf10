import pytest
import torch
from torch import nn

from {{ cookiecutter.package_name }} import model as models
from {{ cookiecutter.package_name }}.model import MODELS, ModelSpec, build_model


class Renamed(nn.Module):
    def __init__(self, classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(64, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.linear(images.flatten(1))


def test_the_configs_model_takes_pixels_and_returns_one_logit_per_class(default_config):
    model = build_model(default_config.model, 7, 8, 1).eval()
    assert model(pixels=torch.rand(2, 1, 8, 8) * 255).shape == (2, 7)


def test_a_model_that_breaks_the_exporters_contract_is_refused(monkeypatch):
    monkeypatch.setitem(MODELS, "renamed", ModelSpec(lambda classes, *_: Renamed(classes)))
    with pytest.raises(ValueError, match="pixels"):
        build_model("renamed", 10, 8, 1)


def test_an_unknown_model_is_refused():
    with pytest.raises(ValueError, match="resnet"):
        models.model_spec("resnet")
