"""The robustness grid on frozen features: every scenario x severity for one representation and seed.

``evaluate_features`` takes features that are already extracted (clean train / val / test, and
one test set per test-time perturbation) and yields one result row per scenario x severity.
Test-time scenarios reuse the probe trained on the clean training features.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import torch

from monorobust.evaluate.config import GridConfig, ProbeConfig
from monorobust.evaluate.probe import train_probe
from monorobust.evaluate.scenarios import CLEAN, SCENARIOS, Phase
from monorobust.rundir import ResultRow
from monorobust.seeding import derive_seed


class FeatureSet(NamedTuple):
    """Frozen features of one representation and seed, with their labels."""

    train: torch.Tensor
    """(N_train, D)."""
    train_labels: torch.Tensor
    val: torch.Tensor
    """(N_val, D)."""
    val_labels: torch.Tensor
    test: dict[str, torch.Tensor]
    """``test_key(scenario, severity)`` -> (N_test, D); "clean" is the clean test split."""
    test_labels: dict[str, torch.Tensor]
    data: Any = None
    """The run's ``DataConfig``, for scenarios that read the dataset's side data (``needs_data``)."""


def test_key(scenario: str, severity: float) -> str:
    return CLEAN if scenario == CLEAN else f"{scenario}@{severity:g}"


def grid_points(grid: GridConfig) -> list[tuple[str, float]]:
    """Every (scenario, severity) of the grid, clean first."""
    points = [(name, float(s)) for name, sev in grid.scenarios.items() for s in sev]
    return sorted(points, key=lambda p: (p[0] != CLEAN, list(grid.scenarios).index(p[0]), p[1]))


def evaluate_features(representation: str, fs: FeatureSet, grid: GridConfig, probe: ProbeConfig,
                      num_classes: int, seed: int, skip: set[tuple[str, float]] = frozenset(),
                      device: torch.device | str | None = None) -> Iterator[ResultRow]:
    """Yield one row per (scenario, severity) not in ``skip``: accuracy and what produced it.

    The probes train on ``device`` (default: the features' own); the scenarios draw their
    noise and subsets on the CPU, from ``fs``'s labels, so the draws do not depend on it.
    """
    dev = torch.device(device) if device is not None else fs.train.device
    train, train_y = fs.train.to(dev), fs.train_labels.to(dev)      # once, not per point
    val, val_y = fs.val.to(dev), fs.val_labels.to(dev)
    clean_probe = None
    for name, severity in grid_points(grid):
        if (name, severity) in skip:
            continue
        scenario = SCENARIOS.get(name)
        # Each point draws from its own generator: adding a scenario does not change the others.
        gen = torch.Generator().manual_seed(derive_seed(seed, name, severity))
        if scenario.phase is Phase.TEST:
            if clean_probe is None:
                clean_probe = train_probe(train, train_y, val, val_y, num_classes, probe, seed)
            p, realised, n_train = clean_probe, 0.0, len(fs.train_labels)
            key = test_key(name, severity)
        else:
            extra = {"data": fs.data} if scenario.needs_data else {}
            ts = scenario.train_set(fs.train_labels, fs.val_labels, severity, num_classes, gen,
                                    **extra)
            p = train_probe(train[ts.train_idx.to(dev)], ts.train_labels.to(dev),
                            val[ts.val_idx.to(dev)], ts.val_labels.to(dev), num_classes, probe, seed)
            realised, n_train = ts.realised_noise_rate, len(ts.train_idx)
            key = CLEAN
        x_test, y_test = fs.test[key].to(dev), fs.test_labels[key].to(dev)
        yield ResultRow(
            representation=representation, scenario=name, severity=severity,
            severity_name=scenario.severity_name, seed=seed,
            accuracy=p.accuracy(x_test, y_test), realised_noise_rate=realised,
            per_class_accuracy=tuple(p.per_class_accuracy(x_test, y_test, num_classes)),
            train_accuracy=p.train_accuracy, val_accuracy=p.val_accuracy,
            best_step=p.best_step, n_train=n_train, n_test=len(y_test))


def grid_cells(representations: Sequence[str], grid: GridConfig, seeds: Sequence[int]) -> list[tuple]:
    """Done-keys (``ResultRow.AXES``) of every cell of the grid: seed, then representation,
    then grid point, the order in which the rows are computed."""
    return [(rep, name, sev, seed) for seed in seeds for rep in representations
            for name, sev in grid_points(grid)]


def skip_done(grid: GridConfig, todo: Sequence[tuple], representation: str,
              seed: int) -> set[tuple[str, float]]:
    """The grid points of ``representation`` and ``seed`` that ``todo`` does not ask for."""
    wanted = {(k[1], k[2]) for k in todo if k[0] == representation and k[3] == seed}
    return {p for p in grid_points(grid) if p not in wanted}


def evaluate_cells(todo: Sequence[tuple], features_of: Callable[[int], FeatureSet],
                   grid: GridConfig, probe: ProbeConfig, num_classes: int,
                   device: torch.device | str | None = None) -> Iterator[ResultRow]:
    """The rows of ``todo`` (done-keys of one representation), features taken once per seed
    from ``features_of(seed)``: ``run_grid``'s compute for fixed features."""
    for rep, seed in dict.fromkeys((k[0], k[3]) for k in todo):
        yield from evaluate_features(rep, features_of(seed), grid, probe, num_classes, seed,
                                     skip_done(grid, todo, rep, seed), device)
