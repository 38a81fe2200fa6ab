"""Test-time input noise in [0, 1] pixel space (Gaussian std, or zero-mean uniform half-width)."""

import torch

from monorobust.evaluate.scenarios.base import Phase, Scenario, register
from monorobust.perturb import gaussian_noise, uniform_noise


class _PixelNoise(Scenario):
    """Adds ``noise(images, severity, generator)`` to the test images, seeded by the run's seed."""

    phase, claim, primary, zero_is_clean = Phase.TEST, "input_noise", max, True
    noise = staticmethod(gaussian_noise)

    def test_images(self, images, severity, seed, params):
        return self.noise(images.float() / 255, severity, torch.Generator().manual_seed(seed))


@register
class GaussianNoise(_PixelNoise):
    name, title, severity_name = "gaussian_noise", "Gaussian input noise", "noise std"
    axis, defaults = "noise std (pixel space, [0, 1])", (0.1, 0.2, 0.3, 0.4)
    noise = staticmethod(gaussian_noise)


@register
class UniformNoise(_PixelNoise):
    name, title, severity_name = "uniform_noise", "uniform input noise", "noise half-width"
    axis, defaults = "noise half-width (pixel space, [0, 1])", (0.2, 0.4, 0.6, 0.8)
    noise = staticmethod(uniform_noise)
