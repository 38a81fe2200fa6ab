"""The superposition part of ``monorobust toy``: train, measure monosemanticity, sweep noise.

Per seed, a ``poly`` and a ``mono`` toy model (``theory.superposition``) are trained; each
hidden code then goes through ``theory.downstream.robustness_sweep``. Curves are the mean over
seeds with their standard deviation; crossovers use the paired (same seed) difference.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import torch

from monorobust.theory.crossover import describe, find_crossovers
from monorobust.theory.downstream import robustness_sweep
from monorobust.theory.superposition import CODES, ToyModel, monosemanticity, train_toy_models

if TYPE_CHECKING:
    from monorobust.theory.toy import ToyConfig

TASK = ("label = argmax over C groups (feature i in group i mod C) of the group's feature sum; "
        "softmax regression on the standardised hidden code h = W x")

_KEYS = ("n_features", "n_hidden", "sparsity", "importance_decay", "steps", "batch_size",
         "n_seeds", "num_classes", "n_train", "probe_steps", "label_rates", "noise_stds",
         "represented_threshold")


def _curve(per_seed: list[list[float]]) -> dict[str, Any]:
    t = torch.tensor(per_seed, dtype=torch.float64)
    std = t.std(dim=0) if t.shape[0] > 1 else torch.zeros(t.shape[1], dtype=torch.float64)
    return {"per_seed": per_seed, "mean": [round(float(v), 6) for v in t.mean(dim=0)],
            "std": [round(float(v), 6) for v in std]}


def _paired_se(a: list[list[float]], b: list[list[float]]) -> list[float] | None:
    d = torch.tensor(a, dtype=torch.float64) - torch.tensor(b, dtype=torch.float64)
    return None if d.shape[0] < 2 else [float(v) for v in d.std(dim=0) / d.shape[0] ** 0.5]


def run_superposition(cfg: ToyConfig) -> tuple[dict[str, Any], dict[tuple[int, str], ToyModel]]:
    """The part's JSON dict (schema in ``theory.toy``) and the trained models."""
    seeds = tuple(range(cfg.seed, cfg.seed + cfg.n_seeds))
    models = train_toy_models(seeds, n_features=cfg.n_features, n_hidden=cfg.n_hidden,
                              sparsity=cfg.sparsity, decay=cfg.importance_decay,
                              steps=cfg.steps, batch_size=cfg.batch_size)
    entries: dict[str, list[dict[str, Any]]] = {c: [] for c in CODES}
    acc_label: dict[str, list[list[float]]] = {c: [] for c in CODES}
    acc_input: dict[str, list[list[float]]] = {c: [] for c in CODES}
    realised: list[float] = []
    for seed in seeds:
        for code in CODES:
            model = models[(seed, code)]
            ms = monosemanticity(model.W, cfg.represented_threshold)
            entries[code].append({"seed": seed, "final_loss": round(model.final_loss, 6),
                                  "polysemantic_dims": sum(k > 1 for k in ms.features_per_dim),
                                  **ms._asdict()})
            res = robustness_sweep(model, seed, cfg.sparsity, cfg.num_classes, cfg.label_rates,
                                   cfg.noise_stds, n_train=cfg.n_train, n_test=cfg.n_train,
                                   steps=cfg.probe_steps)
            acc_label[code].append(res.label_noise)
            acc_input[code].append(res.input_noise)
            realised = res.realised_rates
    result: dict[str, Any] = {
        "config": {k: (list(v) if isinstance(v, tuple) else v)
                   for k, v in dataclasses.asdict(cfg).items() if k in _KEYS},
        "seeds": list(seeds), "task": TASK, "models": entries,
    }
    summary = []
    for code in CODES:
        rep = [e["represented"] for e in entries[code]]
        share = [e["mean_top_share"] for e in entries[code]]
        summary.append(f"{code}: features represented {rep} (m = {cfg.n_hidden}), mean top-feature "
                       f"share per dim {[round(s, 3) for s in share]}")
    for axis, xname, xs, acc in (("label_noise", "rates", list(cfg.label_rates), acc_label),
                                 ("input_noise", "stds", list(cfg.noise_stds), acc_input)):
        curves = {c: _curve(acc[c]) for c in CODES}
        found = find_crossovers(xs, curves["mono"]["mean"], curves["poly"]["mean"],
                                _paired_se(acc["mono"], acc["poly"]))
        result[axis] = {xname: xs, "accuracy": curves, "crossovers": [c._asdict() for c in found]}
        clean = (f"clean accuracy poly {curves['poly']['mean'][0]:.3f}, "
                 f"mono {curves['mono']['mean'][0]:.3f}")
        summary.append(f"{describe(found, axis.replace('_', ' '), xs[0], xs[-1])} ({clean}; "
                       f"at {xs[-1]:g}: poly {curves['poly']['mean'][-1]:.3f}, "
                       f"mono {curves['mono']['mean'][-1]:.3f})")
    result["label_noise"]["realised_rates"] = realised
    result["summary"] = summary
    return result, models
