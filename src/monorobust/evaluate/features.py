"""Feature extraction in batches, without gradients, on the model's device."""

from __future__ import annotations

from collections.abc import Callable

import torch

from monorobust.checks import check_features
from monorobust.errors import ConfigError

Encode = Callable[[torch.Tensor], torch.Tensor]
"""float images (N, C, H, W) in [0, 1] -> features (N, D)."""


@torch.no_grad()
def extract(encode: Encode, images: torch.Tensor, batch_size: int = 2048,
            device: torch.device | str = "cpu") -> torch.Tensor:
    """Features (N, D) float32 on the CPU of ``images`` (uint8, or float in [0, 1]).

    What ``encode`` returns is checked batch by batch (``ConfigError`` naming the images): a
    tensor of one row of finite real numbers per image, as wide in every batch. A NaN would
    otherwise put every probe at chance without a word.
    """
    if isinstance(images, torch.Tensor) and images.is_floating_point() and images.numel():
        lo, hi = (float(v) for v in images.aminmax())
        if lo < 0 or hi > 1:
            raise ConfigError(f"float images must be in [0, 1], got values in [{lo:g}, {hi:g}]; "
                              "divide 0-255 images by 255, or pass uint8")
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].to(device)
        x = x.float().div_(255) if x.dtype == torch.uint8 else x.float()
        what = f"encode's output for images {i}-{i + len(x) - 1}"
        f = encode(x)
        f = check_features(f.detach().cpu() if isinstance(f, torch.Tensor) else f, what)
        if len(f) != len(x) or (out and f.shape[1] != out[0].shape[1]):
            raise ConfigError(f"{what} has shape {tuple(f.shape)} for {len(x)} images"
                              + (f" (earlier batches: {out[0].shape[1]} features)" if out else "")
                              + "; encode must return one row of the same width per image")
        out.append(f)
    return torch.cat(out) if out else torch.empty(0, 0)


def model_encoder(model: torch.nn.Module, which: str = "projector") -> Encode:
    """The raw projector output g(f(x)) or the backbone output f(x) of a contrastive model."""
    model.eval()
    return model if which == "projector" else model.backbone_features
