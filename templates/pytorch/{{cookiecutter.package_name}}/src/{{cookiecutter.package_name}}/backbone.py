"""A pretrained MobileNetV2 with a new classifier head: model: mobilenet in the config.

The network is Hugging Face transformers' MobileNetV2 (built from its config, so nothing is
downloaded to make it). torchvision's and timm's MobileNets need a torchvision build that
matches torch exactly; transformers' works on any CPU or CUDA build of torch.
Weights (config ``weights``):
  imagenet   Google's ImageNet weights, from the Hugging Face Hub (HUB_ID), downloaded on
             first use into ~/.cache/huggingface (about 14 MB);
  none       random weights (training from scratch);
  PATH       a local file: a .safetensors file of this network's weights (the Hub's
             model.safetensors works as it is), or a folder downloaded from the Hub.
"""

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

HUB_ID = "google/mobilenet_v2_1.0_224"
# Five stride-2 stages: smaller images leave nothing to pool.
MIN_IMAGE_SIZE = 32
# The Hub's checkpoint names the backbone's weights with this prefix.
PREFIX = "mobilenet_v2."


class MobileNetClassifier(nn.Module):
    """MobileNetV2's features, average-pooled, then a new linear layer for these classes.

    It takes raw pixels (0-255) as float32 (N, C, H, W), C = 1 or 3, and applies the
    backbone's own normalisation itself (ImageNet training used mean 0.5, std 0.5 of 0-1
    pixels), so the exported models need no preprocessing on any target.
    """

    def __init__(
        self, num_classes: int, image_size: int, channels: int, weights: str = "none"
    ) -> None:
        super().__init__()
        if image_size < MIN_IMAGE_SIZE:
            raise ValueError(
                f"model: mobilenet needs images of at least {MIN_IMAGE_SIZE}x"
                f"{MIN_IMAGE_SIZE} pixels, and these are {image_size}x{image_size}: "
                f"use a photo folder with image_size: {MIN_IMAGE_SIZE} or more, or "
                "model: small_cnn."
            )
        self.channels = channels
        self.backbone = load_backbone(weights)
        features = self.backbone.conv_1x1.convolution.out_channels
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(features, num_classes))
        self.frozen: bool | None = None  # set by freeze_backbone

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Return class logits (N, num_classes) for raw pixels (N, C, H, W)."""
        x = pixels / 127.5 - 1.0
        if self.channels == 1:  # grey images: the same plane as red, green and blue
            x = x.expand(-1, 3, -1, -1)
        return self.classifier(self.backbone(x).pooler_output)

    def freeze_backbone(self, frozen: bool) -> None:
        """Train the new head alone (frozen: no gradients, BatchNorm statistics kept) or the
        whole network."""
        self.frozen = frozen
        self.backbone.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True) -> "MobileNetClassifier":
        super().train(mode)
        # A frozen backbone keeps its BatchNorm statistics as well as its weights.
        self.backbone.train(mode and not self.frozen)
        return self


def freeze_for(epoch: int, model: nn.Module, head_epochs: int, say: Callable[[str], None]) -> None:
    """A pretrained backbone is frozen for the first head_epochs (only the new head learns;
    BatchNorm keeps its statistics), then fine-tuned with it. The phase follows the epoch
    alone, so a resumed run goes on in the phase it stopped in."""
    frozen = epoch <= head_epochs
    if isinstance(model, MobileNetClassifier) and model.frozen is not frozen:
        model.freeze_backbone(frozen)
        say(phase_message(epoch, frozen, head_epochs))


def phase_message(epoch: int, frozen: bool, head_epochs: int) -> str:
    if frozen:
        return (
            f"epoch {epoch}: backbone frozen, only the new head trains (head_epochs: {head_epochs})"
        )
    return f"epoch {epoch}: fine-tuning the backbone too, at a lower learning rate"


def load_backbone(weights: str) -> nn.Module:
    """The MobileNetV2 feature extractor with the weights the config names.

    Raises:
        ValueError: transformers is not installed, or the weights file is unusable.
    """
    try:
        import transformers
    except ModuleNotFoundError:
        raise ValueError(
            "model: mobilenet needs Hugging Face transformers, an optional "
            'dependency: pip install -e ".[backbone]"'
        ) from None
    if weights == "imagenet":
        try:
            return transformers.MobileNetV2Model.from_pretrained(HUB_ID)
        except OSError as error:  # offline, or the Hub cannot be reached
            raise ValueError(
                f"weights: imagenet downloads {HUB_ID} from the Hugging Face Hub, "
                f"which failed ({str(error).splitlines()[0]}). Download "
                f"model.safetensors from https://huggingface.co/{HUB_ID} on a "
                "connected machine and set weights: to its path."
            ) from None
    if weights != "none" and Path(weights).is_dir():
        try:
            return transformers.MobileNetV2Model.from_pretrained(weights)
        except OSError as error:  # not a model folder, or one without weights
            raise ValueError(
                f"weights: {weights} is not a folder downloaded from the Hugging "
                f"Face Hub ({str(error).splitlines()[0]})."
            ) from None
    backbone = transformers.MobileNetV2Model(transformers.MobileNetV2Config())
    if weights != "none":
        try:
            backbone.load_state_dict(read_weights(Path(weights)))
        except RuntimeError as error:  # names that are missing, or tensors of another shape
            raise ValueError(
                f"weights: {weights} does not hold MobileNetV2 1.0's weights "
                f"({str(error).splitlines()[-1].strip()})."
            ) from None
    return backbone


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The backbone's tensors from a .safetensors file (the Hub's classifier left out)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise ValueError(
            f"weights: {path} does not exist. Give a .safetensors file, a folder "
            "downloaded from the Hugging Face Hub, imagenet or none."
        )
    try:
        tensors = load_file(path)
    except SafetensorError as error:
        raise ValueError(f"weights: {path} is not a .safetensors file ({error}).") from None
    return {
        name.removeprefix(PREFIX): tensor
        for name, tensor in tensors.items()
        if not name.startswith("classifier.")
    }
