"""Frozen pretrained vision backbones from Hugging Face transformers: ``hf:<folder or Hub id>``.

``load_backbone("hf:facebook/dinov2-small")`` returns a module mapping float images (N, C, H, W)
in [0, 1] to features (N, D) with the model's own preprocessing applied as tensor ops on the
batch: grey images repeated to 3 channels, a bilinear resize of the whole image to the
processor's input size (its crop size where it centre-crops: small images would lose their
border to a crop), then the processor's mean and std. The weights are frozen (eval mode,
``requires_grad`` False) and the forward pass runs without gradients.

Features per family (``FEATURE_RULES``):
- ViT (``vit``): the CLS token of ``last_hidden_state`` (after the final layer norm); ViT's
  pooler is a tanh layer that most checkpoints ship untrained.
- DINOv2, CLIP vision, ResNet, ConvNeXt and others with a pooler: ``pooler_output`` (DINOv2 and
  CLIP: the normed CLS token; ResNet: global average pool; ConvNeXt: normed average pool).
- no pooler: the mean of ``last_hidden_state`` over tokens (or over space for (N, C, H, W)).
A CLIP checkpoint (``CLIPModel``, ``SiglipModel``) contributes its vision tower only.

transformers is imported inside the functions: ``monorobust --help`` stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from monorobust.errors import ConfigError

PREFIX = "hf:"
CLS_FAMILIES = ("vit",)
"""Model types whose features are the CLS token of last_hidden_state (their pooler is untrained)."""
FEATURE_RULES = {"vit": "CLS token of last_hidden_state", "default": "pooler_output",
                 "no pooler": "mean of last_hidden_state"}


def is_hf(encoder: str) -> bool:
    return encoder.startswith(PREFIX)


def model_id(encoder: str) -> str:
    """``hf:X`` -> X (a local folder, resolved to an absolute path, or a Hub id)."""
    name = encoder[len(PREFIX):]
    path = Path(name).expanduser()
    return str(path.resolve()) if path.is_dir() else name


def check_backbone(encoder: str) -> str:
    """The model id of ``hf:X`` once its config loads; a one-line ConfigError naming X when X is
    neither a local model folder nor a Hub id that can be fetched (offline, say)."""
    name = encoder[len(PREFIX):]
    if not name:
        raise ConfigError("pretrain.encoder 'hf:' names no model; pass hf:<local folder or Hub id>")
    path = Path(name).expanduser()
    looks_local = path.is_absolute() or name.startswith((".", "~")) or path.exists()
    if looks_local and not (path / "config.json").is_file():
        raise ConfigError(f"pretrain.encoder {encoder!r}: {path} is not a model folder (no "
                          "config.json); save one with save_pretrained or pass a Hub id")
    try:
        from transformers import AutoConfig

        AutoConfig.from_pretrained(model_id(encoder))
    except (OSError, ValueError) as err:
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
        reason = str(err).strip().splitlines()[0][:160]
        raise ConfigError(f"pretrain.encoder {encoder!r}: cannot load {name!r} as a local folder "
                          f"or from the Hugging Face Hub{offline}: {reason}. Pass a local folder "
                          "saved with save_pretrained, or a Hub id with network access") from None
    return model_id(encoder)


def _input_size(proc) -> tuple[int, int]:
    """(H, W) the processor feeds the model: its crop size where it crops, else its size."""
    crops = getattr(proc, "do_center_crop", False) and getattr(proc, "crop_size", None)
    size = proc.crop_size if crops else proc.size
    if isinstance(size, int):
        return size, size
    if "height" in size:
        return size["height"], size["width"]
    side = size.get("shortest_edge") or size.get("longest_edge")
    return side, side


class HFBackbone(nn.Module):
    """A frozen Hugging Face vision model: float images in [0, 1] -> (N, out_dim) features."""

    def __init__(self, model: nn.Module, model_type: str, size: tuple[int, int],
                 mean: list[float], std: list[float], channels: int) -> None:
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.model_type, self.size, self.channels = model_type, size, channels
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.feature_rule = FEATURE_RULES["vit" if model_type in CLS_FAMILIES else "default"]

    def train(self, mode: bool = True) -> "HFBackbone":
        return super().train(False)            # frozen: dropout and BatchNorm stay in eval

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1 and self.channels == 3:
            x = x.expand(-1, 3, -1, -1)
        if tuple(x.shape[-2:]) != self.size:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False,
                              antialias=True)
        return (x - self.mean) / self.std

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(pixel_values=self.preprocess(x.float()))
        if self.model_type in CLS_FAMILIES:
            return out.last_hidden_state[:, 0]
        pooled = getattr(out, "pooler_output", None)
        if pooled is not None:
            return pooled.flatten(1)
        hidden = out.last_hidden_state
        return hidden.mean(dim=(2, 3)) if hidden.dim() == 4 else hidden.mean(dim=1)


def load_backbone(encoder: str) -> HFBackbone:
    """The frozen backbone of ``hf:X`` (see the module docstring)."""
    from transformers import AutoConfig, AutoImageProcessor, AutoModel

    name = check_backbone(encoder)
    config = AutoConfig.from_pretrained(name)
    model = AutoModel.from_pretrained(name)
    if hasattr(model, "vision_model"):         # CLIP / SigLIP: the vision tower only
        model = model.vision_model
        config = getattr(config, "vision_config", config)
    try:
        try:
            proc = AutoImageProcessor.from_pretrained(name)
        except ImportError:    # transformers 5.x before ~5.24 without torchvision: its settings
            from types import SimpleNamespace

            from transformers.image_processing_utils import ImageProcessingMixin
            proc = SimpleNamespace(**ImageProcessingMixin.get_image_processor_dict(name)[0])
        size, mean, std = _input_size(proc), list(proc.image_mean), list(proc.image_std)
    except (OSError, ValueError):              # no preprocessor_config.json: the config's size
        side = getattr(config, "image_size", 224)
        size, mean, std = (side, side), [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]
    channels = getattr(config, "num_channels", 3)
    return HFBackbone(model, config.model_type, size, mean, std, channels)
