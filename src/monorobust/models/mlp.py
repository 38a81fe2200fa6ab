"""MLP encoder: flatten -> [Linear - BatchNorm - ReLU] x 2. Fast on a CPU."""

from __future__ import annotations

import torch.nn as nn

from monorobust.models.base import ENCODERS


@ENCODERS.register("mlp")
def mlp(in_channels: int, image_size: int, width: int = 1024) -> nn.Module:
    """(N, C, H, W) -> (N, width)."""
    d_in = in_channels * image_size * image_size
    net = nn.Sequential(
        nn.Flatten(),
        nn.Linear(d_in, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True),
        nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True),
    )
    net.out_dim = width
    return net
