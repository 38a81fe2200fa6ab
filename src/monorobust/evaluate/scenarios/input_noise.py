"""Test-time input noise in [0, 1] pixel space (Gaussian std, or zero-mean uniform half-width)."""

import torch

from monorobust.evaluate.scenarios.base import Scenario, register
from monorobust.perturb import gaussian_noise, uniform_noise


class _PixelNoise(Scenario):
    """Adds ``noise(images, severity, generator)`` to the test images, seeded by the run's seed."""

    kind = "test"
    noise = staticmethod(gaussian_noise)

    def test_images(self, images, severity, seed, grid):
        return self.noise(images.float() / 255, severity, torch.Generator().manual_seed(seed))


@register
class GaussianNoise(_PixelNoise):
    name, severity_name, noise = "gaussian_noise", "noise std", staticmethod(gaussian_noise)


@register
class UniformNoise(_PixelNoise):
    name, severity_name, noise = "uniform_noise", "noise half-width", staticmethod(uniform_noise)
