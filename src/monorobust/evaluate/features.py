"""Feature extraction in batches, without gradients, on the model's device."""

from __future__ import annotations

from collections.abc import Callable

import torch

Encode = Callable[[torch.Tensor], torch.Tensor]
"""float images (N, C, H, W) in [0, 1] -> features (N, D)."""


@torch.no_grad()
def extract(encode: Encode, images: torch.Tensor, batch_size: int = 2048,
            device: torch.device | str = "cpu") -> torch.Tensor:
    """Features (N, D) float32 on the CPU of ``images`` (uint8, or float in [0, 1])."""
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size].to(device)
        x = x.float().div_(255) if x.dtype == torch.uint8 else x.float()
        out.append(encode(x).float().cpu())
    return torch.cat(out) if out else torch.empty(0, 0)


def model_encoder(model: torch.nn.Module, which: str = "projector") -> Encode:
    """The raw projector output g(f(x)) or the backbone output f(x) of a contrastive model."""
    model.eval()
    return model if which == "projector" else model.backbone_features
