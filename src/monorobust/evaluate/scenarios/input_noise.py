"""Test-time input noise in [0, 1] pixel space (Gaussian std, or zero-mean uniform half-width)."""

import torch

from monorobust.evaluate.scenarios.base import Scenario, register
from monorobust.perturb import gaussian_noise, uniform_noise


@register
class GaussianNoise(Scenario):
    name = "gaussian_noise"
    kind = "test"
    severity_name = "noise std"

    def test_images(self, images, severity, seed, grid):
        gen = torch.Generator().manual_seed(seed)
        return gaussian_noise(images.float() / 255, severity, gen)


@register
class UniformNoise(Scenario):
    name = "uniform_noise"
    kind = "test"
    severity_name = "noise half-width"

    def test_images(self, images, severity, seed, grid):
        gen = torch.Generator().manual_seed(seed)
        return uniform_noise(images.float() / 255, severity, gen)
