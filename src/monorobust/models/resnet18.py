"""Registered ResNet-18 encoders: CIFAR stem below 64 px, the ImageNet stem from 64 px up."""

from __future__ import annotations

import torch.nn as nn

from monorobust.models.base import ENCODERS
from monorobust.models.resnet import ResNet18


@ENCODERS.register("resnet18")
def resnet18(in_channels: int, image_size: int, width: int = 64) -> nn.Module:
    """(N, C, H, W) -> (N, 8 * width)."""
    return ResNet18(in_channels, width, cifar_stem=image_size < 64)
