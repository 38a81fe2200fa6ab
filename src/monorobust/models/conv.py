"""Small CNN: four 3x3 conv blocks (width w, 2w, 4w, 8w), stride-2 downsampling, global pooling."""

from __future__ import annotations

import torch.nn as nn

from monorobust.models.base import ENCODERS


def _block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


@ENCODERS.register("conv")
def conv(in_channels: int, image_size: int, width: int = 32) -> nn.Module:
    """(N, C, H, W) -> (N, 8 * width)."""
    net = nn.Sequential(
        *_block(in_channels, width, 1),
        *_block(width, 2 * width, 2),
        *_block(2 * width, 4 * width, 2),
        *_block(4 * width, 8 * width, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )
    net.out_dim = 8 * width
    return net
