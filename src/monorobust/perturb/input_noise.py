"""Test-time input noise in [0, 1] pixel space, before normalisation, clipped back to [0, 1].

Differs from the authors' code, which adds noise after normalisation, unclipped, and whose
"uniform" noise is one-sided ``a * U[0, 1)``: here both kinds are zero-mean before clipping and
the image stays a valid image.
"""

from __future__ import annotations

import torch

from monorobust.errors import ConfigError


def _check(images: torch.Tensor, strength: float) -> None:
    if not images.is_floating_point():
        raise ConfigError("input noise expects float images in [0, 1]; divide uint8 images by 255")
    if not 0 <= strength < float("inf"):    # also refuses NaN
        raise ConfigError(f"noise strength must be a finite number >= 0, got {strength}")


def gaussian_noise(images: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    """``clip(x + std * N(0, 1), 0, 1)`` for float images ``x`` in [0, 1] of any shape."""
    _check(images, std)
    noise = torch.randn(images.shape, generator=generator, device=generator.device)
    return (images + std * noise.to(images.device, images.dtype)).clamp_(0.0, 1.0)


def uniform_noise(images: torch.Tensor, half_width: float, generator: torch.Generator) -> torch.Tensor:
    """``clip(x + U(-a, a), 0, 1)``: zero-mean uniform noise of half-width ``a``."""
    _check(images, half_width)
    noise = torch.rand(images.shape, generator=generator, device=generator.device) * 2.0 - 1.0
    return (images + half_width * noise.to(images.device, images.dtype)).clamp_(0.0, 1.0)
