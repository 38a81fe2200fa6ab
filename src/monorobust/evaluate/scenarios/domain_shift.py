"""Out-of-domain test sets with the same classes: edge-map sketches and ImageNet-C corruptions.

``corrupt`` at severity s scores the probe on the union of the test subset corrupted by each
corruption in ``grid.corruptions`` at s: its accuracy is the mean over corruptions, as
ImageNet-C's corruption accuracy is. Their parameters are ImageNet-C's or CIFAR-10-C's
(``grid.corruption_calibration``; "auto": CIFAR-10-C's for images up to 64 px).
"""

from typing import NamedTuple

import torch

from monorobust.errors import ConfigError
from monorobust.evaluate.scenarios.base import NO_SEVERITY, Phase, Scenario, register
from monorobust.perturb import corrupt_each, sketch
from monorobust.seeding import derive_seed


class ShiftParams(NamedTuple):
    """What the out-of-domain scenarios read from the grid config."""

    corruptions: tuple[str, ...]
    """ImageNet-C corruptions averaged in ``corrupt``."""
    test_size: int | None
    """Test images used (a fixed stratified subset); None: all."""
    calibration: str = "auto"
    """Whose corruption parameters: "auto", "cifar-10-c" or "imagenet-c" (perturb.calibration)."""


class _Shift(Scenario):
    phase, claim, primary = Phase.TEST, "ood", max

    def params(self, grid) -> ShiftParams:
        return ShiftParams(tuple(grid.corruptions), grid.shift_test_size,
                           grid.corruption_calibration)

    def test_subset(self, params: ShiftParams) -> int | None:
        return params.test_size


@register
class Sketch(_Shift):
    name, title, severity_name = "sketch", "sketch (out of domain)", NO_SEVERITY
    defaults = (1,)

    def test_images(self, images, severity, seed, params):
        return sketch(images.float() / 255)


@register
class Corrupt(_Shift):
    name, title, severity_name = "corrupt", "corruptions (out of domain)", "corruption severity"
    axis, defaults, zero_is_clean = "corruption severity (0 = clean)", (1, 3, 5), True
    integer_severity = True

    def check(self, severities, num_classes, min_class_size=None, min_val_class_size=None):
        super().check(severities, num_classes)
        for s in severities:
            if not 1 <= s <= 5:
                raise ConfigError(f"grid.scenarios.corrupt: severity must be 1-5, got {s}")

    def test_images(self, images, severity, seed, params: ShiftParams):
        # NumPy's legacy seeding (corrupt-tta draws from it) takes 32 bits.
        jobs = [(name, int(severity), derive_seed(seed, "corrupt", name, severity) % 2**32)
                for name in params.corruptions]
        return torch.cat(corrupt_each(images, jobs, calibration=params.calibration)).float() / 255
