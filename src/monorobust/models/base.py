"""Encoder registry, input normalisation, projector and the contrastive model.

An encoder maps float images in [0, 1], (N, C, H, W), to (N, D) features; ``out_dim`` gives D.
Normalisation (per-channel mean and std of the dataset) is the model's first layer, so every
perturbation happens in pixel space before it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from monorobust.registry import Registry

EncoderFactory = Callable[..., nn.Module]
ENCODERS: Registry[EncoderFactory] = Registry("encoder")


class Normalize(nn.Module):
    """(x - mean) / std per channel; mean and std are buffers saved with the model."""

    def __init__(self, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def projector(in_dim: int, hidden_dim: int, out_dim: int, batchnorm: bool = False) -> nn.Sequential:
    """The SimCLR projector g: Linear(in, hidden) - [BatchNorm] - ReLU - Linear(hidden, out).

    The paper's widths are 512 -> 16384 -> 2048 (no BatchNorm, as in its description).
    """
    layers: list[nn.Module] = [nn.Linear(in_dim, hidden_dim)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(hidden_dim))
    layers += [nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim)]
    return nn.Sequential(*layers)


class ContrastiveModel(nn.Module):
    """normalise -> backbone f -> projector g.  ``forward`` returns g(f(x)), before any ReLU."""

    def __init__(self, backbone: nn.Module, proj: nn.Module, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.backbone = backbone
        self.projector = proj

    def backbone_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [0, 1] -> (N, D_backbone)."""
        return self.backbone(self.normalize(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [0, 1] -> (N, D_projector), the raw projector output."""
        return self.projector(self.backbone_features(x))


def build_encoder(name: str, in_channels: int, image_size: int, width: int) -> nn.Module:
    """An encoder from the registry; it has an ``out_dim`` attribute."""
    return ENCODERS.get(name)(in_channels=in_channels, image_size=image_size, width=width)
