"""The test sets of a run: the clean test split and one perturbed copy per test-time scenario."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from monorobust.data import ImageSplit, stratified_split
from monorobust.evaluate.config import GridConfig
from monorobust.evaluate.grid import grid_points, test_key
from monorobust.evaluate.scenarios import CLEAN, SCENARIOS, Phase


def _subset(test: ImageSplit, size: int | None) -> ImageSplit:
    if size is None or size >= len(test):
        return test
    # The same stratified subset for every seed and representation.
    _, keep = stratified_split(test.labels, size / len(test), seed=0)
    return test.subset(keep)


def iter_test_sets(test: ImageSplit, grid: GridConfig, seed: int
                   ) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
    """Yield ``(key, images, labels)``: float images in [0, 1] for every test-time grid point.

    Perturbations are drawn from ``seed``. The clean set comes first, always: scenarios that
    perturb training are scored on it.
    """
    points = grid_points(grid)
    if (CLEAN, 0.0) not in points:
        points = [(CLEAN, 0.0)] + points
    for name, severity in points:
        scenario = SCENARIOS.get(name)
        if scenario.phase is not Phase.TEST:
            continue
        params = scenario.params(grid)
        split = _subset(test, scenario.test_subset(params))
        images = scenario.test_images(split.images, severity, seed, params)
        repeats = images.shape[0] // len(split)
        yield test_key(name, severity), images, split.labels.repeat(repeats)

