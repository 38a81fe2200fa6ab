"""Out-of-domain test sets with the same classes: edge-map sketches and ImageNet-C corruptions.

``corrupt`` at severity s scores the probe on the union of the test subset corrupted by each
corruption in ``grid.corruptions`` at s: its accuracy is the mean over corruptions, as
ImageNet-C's corruption accuracy is.
"""

import torch

from monorobust.errors import ConfigError
from monorobust.evaluate.scenarios.base import Scenario, register
from monorobust.perturb import corrupt, sketch


@register
class Sketch(Scenario):
    name = "sketch"
    kind = "test"
    severity_name = "none"

    def test_images(self, images, severity, seed, grid):
        return sketch(images.float() / 255)

    def test_subset(self, grid):
        return grid.shift_test_size


@register
class Corrupt(Scenario):
    name = "corrupt"
    kind = "test"
    severity_name = "corruption severity"
    integer_severity = True

    def check(self, severities, num_classes, min_class_size=None):
        super().check(severities, num_classes)
        for s in severities:
            if not 1 <= s <= 5:
                raise ConfigError(f"grid.scenarios.corrupt: severity must be 1-5, got {s}")

    def test_images(self, images, severity, seed, grid):
        parts = [corrupt(images, name, int(severity), seed * 1009 + i)
                 for i, name in enumerate(grid.corruptions)]
        return torch.cat(parts).float() / 255

    def test_subset(self, grid):
        return grid.shift_test_size
