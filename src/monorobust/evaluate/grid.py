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
from monorobust.evaluate.batched import train_probes
from monorobust.evaluate.probe import Probe, train_probe
from monorobust.evaluate.scenarios import CLEAN, SCENARIOS, Phase, TrainSet
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
    Probes that train and select on the same rows (the clean probe and every label-noise rate:
    all rows, other labels) train together, in one ``train_probes`` loop; each equals its own
    ``train_probe`` up to float rounding, and costs a fifth of it in the quick preset.
    """
    dev = torch.device(device) if device is not None else fs.train.device
    train, val = fs.train.to(dev), fs.val.to(dev)      # once, not per point
    # The training set of every grid point's probe, skipped points included, so that which
    # probes train together depends on the grid alone and a resumed run repeats the rounding of
    # an uninterrupted one. Every test-time point shares the clean probe (index 0).
    points = grid_points(grid)
    tested = any(SCENARIOS.get(name).phase is Phase.TEST for name, _ in points)
    sets: list[TrainSet | None] = [
        TrainSet(torch.arange(len(fs.train_labels)), fs.train_labels, torch.arange(len(fs.val_labels)),
                 fs.val_labels, 0.0) if tested else None]
    todo: list[tuple[str, float, str, int]] = []   # (scenario, severity, test key, index in sets)
    for name, severity in points:
        scenario = SCENARIOS.get(name)
        if scenario.phase is Phase.TEST:
            key, i = test_key(name, severity), 0
        else:
            # Each point draws from its own generator: adding a scenario does not change the others.
            gen = torch.Generator().manual_seed(derive_seed(seed, name, severity))
            extra = {"data": fs.data} if scenario.needs_data else {}
            sets.append(scenario.train_set(fs.train_labels, fs.val_labels, severity, num_classes,
                                           gen, **extra))
            key, i = CLEAN, len(sets) - 1
        if (name, severity) not in skip:
            todo.append((name, severity, key, i))

    probes: dict[int, Probe] = {}
    for name, severity, key, i in todo:
        if i not in probes:
            probes.update(_train_group(_shared_rows(sets, i), sets, train, val, num_classes,
                                       probe, seed, dev))
        p, ts = probes[i], sets[i]
        x_test, y_test = fs.test[key].to(dev), fs.test_labels[key].to(dev)
        yield ResultRow(
            representation=representation, scenario=name, severity=severity,
            severity_name=SCENARIOS.get(name).severity_name, seed=seed,
            accuracy=p.accuracy(x_test, y_test), realised_noise_rate=ts.realised_noise_rate,
            per_class_accuracy=tuple(p.per_class_accuracy(x_test, y_test, num_classes)),
            train_accuracy=p.train_accuracy, val_accuracy=p.val_accuracy,
            best_step=p.best_step, n_train=len(ts.train_idx), n_test=len(y_test))


def _shared_rows(sets: Sequence[TrainSet | None], i: int) -> list[int]:
    """Indices of the training sets with the same training and validation rows as ``sets[i]``
    (their labels may differ): one probe loop serves them all."""
    first = sets[i]
    return [j for j, ts in enumerate(sets) if ts is not None
            and torch.equal(first.train_idx, ts.train_idx) and torch.equal(first.val_idx, ts.val_idx)]


def _train_group(members: list[int], sets: Sequence[TrainSet], train: torch.Tensor,
                 val: torch.Tensor, num_classes: int, probe: ProbeConfig, seed: int,
                 dev: torch.device) -> dict[int, Probe]:
    """The probes of ``members`` (indices into ``sets`` sharing their rows), trained together."""
    group = [sets[j] for j in members]
    x, vx = train[group[0].train_idx.to(dev)], val[group[0].val_idx.to(dev)]
    if len(group) == 1:
        return {members[0]: train_probe(x, group[0].train_labels.to(dev), vx,
                                        group[0].val_labels.to(dev), num_classes, probe, seed)}
    trained = train_probes(x, torch.stack([t.train_labels for t in group]).to(dev), vx,
                           torch.stack([t.val_labels for t in group]).to(dev), num_classes,
                           probe, seed)
    return dict(zip(members, trained))


def grid_cells(representations: Sequence[str], grid: GridConfig, seeds: Sequence[int]) -> list[tuple]:
    """Done-keys (``ResultRow.AXES``) of every cell of the grid: seed, then representation,
    then grid point, the order in which the rows are computed."""
    return [(rep, name, sev, seed) for seed in seeds for rep in representations
            for name, sev in grid_points(grid)]


def run_order(representations: Sequence[str], grid: GridConfig, seeds: Sequence[int]) -> list[tuple]:
    """``grid_cells`` in the order an uninterrupted ``monorobust run`` computes them: seed, then
    the representations grouped by the objective they are built on (in the order a run pretrains
    them), then grid point. A summary taken in this order does not depend on the order a
    resumed run appended its rows in."""
    from monorobust.evaluate.representations import REPRESENTATIONS

    first = list(dict.fromkeys(REPRESENTATIONS.get(r).objective for r in representations))
    reps = sorted(representations, key=lambda r: first.index(REPRESENTATIONS.get(r).objective))
    return grid_cells(reps, grid, seeds)


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
