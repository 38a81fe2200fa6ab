"""Bring your own encoder: the robustness grid and the metrics for any ``encode`` function.

    from monorobust import evaluate
    rows = evaluate.robustness(my_encode, "digits", seeds=(0, 1, 2))

``my_encode`` takes float images (N, C, H, W) in [0, 1] and returns features (N, D).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from monorobust.checks import check_device
from monorobust.data import ImageDataset, Splits, check_dataset, load_dataset, make_splits
from monorobust.errors import ConfigError
from monorobust.evaluate.config import GridConfig, ProbeConfig
from monorobust.evaluate.features import Encode, extract
from monorobust.evaluate.grid import FeatureSet, evaluate_cells, grid_cells
from monorobust.evaluate.testsets import iter_test_sets
from monorobust.metrics import summarize
from monorobust.rows import RowFile, run_grid
from monorobust.rundir import ResultRow


def _splits(data: str | ImageDataset | Splits, val_fraction: float) -> Splits:
    if isinstance(data, Splits):
        check_dataset(ImageDataset("data.train", data.train, data.val, data.classes))
        check_dataset(ImageDataset("data.test", data.test, data.test, data.classes))
        return data
    if not isinstance(data, (str, ImageDataset)):
        raise ConfigError(f"data must be a dataset name, an ImageDataset or Splits, got "
                          f"{type(data).__name__}")
    ds = load_dataset(data) if isinstance(data, str) else data
    check_dataset(ds)
    if not 0 < val_fraction < 1:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction}")
    return make_splits(ds, val_fraction)


def check_grid(grid: GridConfig, splits: Splits) -> None:
    """Validate the grid against the data (noise rates, k per class) before any work."""
    from monorobust.evaluate.scenarios import SCENARIOS

    def smallest(labels: torch.Tensor) -> int:
        return int(torch.bincount(labels, minlength=splits.num_classes).min())

    for name, severities in grid.scenarios.items():
        SCENARIOS.get(name).check(tuple(severities), splits.num_classes,
                                  smallest(splits.train.labels), smallest(splits.val.labels))
    if "corrupt" in grid.scenarios:             # "auto" resolves by the image size: known here
        from monorobust.perturb.calibration import resolve_supported

        resolve_supported(grid.corruptions, grid.corruption_calibration,
                          *splits.test.images.shape[-2:])


def corruption_calibration(grid: GridConfig, splits: Splits) -> str:
    """The calibration the corrupt scenario uses on these images ("auto" resolved)."""
    from monorobust.perturb.calibration import resolve

    return resolve(grid.corruption_calibration, *splits.test.images.shape[-2:])


def encode_feature_set(encode: Encode, splits: Splits, test_sets: Iterable[tuple[str, Any, Any]],
                       device: str | torch.device = "cpu") -> FeatureSet:
    """Extract features of the train / val splits and of every (perturbed) test set.

    ``test_sets``: (key, images, labels) triples, e.g. ``iter_test_sets(splits.test, grid, seed)``
    (a list of them can serve several encoders: perturbing is the costly part).
    """
    test, test_labels = {}, {}
    for key, images, labels in test_sets:
        test[key], test_labels[key] = extract(encode, images, device=device), labels
    return FeatureSet(extract(encode, splits.train.images, device=device), splits.train.labels,
                      extract(encode, splits.val.images, device=device), splits.val.labels,
                      test, test_labels)


def robustness(encode: Encode, data: str | ImageDataset | Splits, name: str = "custom",
               grid: GridConfig | None = None, probe: ProbeConfig | None = None,
               seeds: tuple[int, ...] = (0, 1, 2), val_fraction: float = 0.1,
               device: str | torch.device = "cpu") -> list[ResultRow]:
    """Rows (one per scenario x severity x seed) of ``encode``'s robustness on ``data``.

    Args:
        encode: float images (N, C, H, W) in [0, 1] -> features (N, D).
        data: a dataset name, an ``ImageDataset`` or ready ``Splits``.
        name: the representation name written in every row.
        device: where ``encode`` runs and the probes train.
    """
    grid, probe = grid or GridConfig(), probe or ProbeConfig()
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ConfigError(f"seeds must be one or more whole numbers >= 0, got {seeds!r}")
    device = check_device(device)
    splits = _splits(data, val_fraction)
    check_grid(grid, splits)

    def features_of(seed: int) -> FeatureSet:
        return encode_feature_set(encode, splits, iter_test_sets(splits.test, grid, seed), device)

    return run_grid(RowFile(None, ResultRow), grid_cells([name], grid, seeds),
                    lambda todo: evaluate_cells(todo, features_of, grid, probe,
                                                splits.num_classes, device))


def feature_metrics(encode: Encode, data: str | ImageDataset | Splits,
                    val_fraction: float = 0.1, device: str | torch.device = "cpu"):
    """``metrics.summarize`` of ``encode``'s features on the clean test split."""
    device = check_device(device)
    splits = _splits(data, val_fraction)
    return summarize(extract(encode, splits.test.images, device=device), splits.test.labels,
                     splits.num_classes)
