"""The superposition part of ``monorobust toy``: train, measure monosemanticity, sweep noise.

Per seed, a ``poly`` and a ``mono`` toy model (``theory.superposition``) are trained; each
hidden code then goes through ``theory.downstream.robustness_sweep``. Curves are the mean over
seeds with their standard deviation; crossovers use the paired (same seed) difference.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, ClassVar

import torch

from monorobust.fields import AT_LEAST_1, FRACTION, NON_NEGATIVE, POSITIVE, Range, check_fields
from monorobust.perturb.label_noise import check_label_rates
from monorobust.theory.crossover import Crossover, describe, find_crossovers, with_clean
from monorobust.theory.downstream import robustness_sweep
from monorobust.theory.superposition import CODES, ToyModel, monosemanticity, train_toy_models

TASK = ("label = argmax over C groups (feature i in group i mod C) of the group's feature sum; "
        "softmax regression on the standardised hidden code h = W x")

@dataclasses.dataclass(frozen=True)
class SuperpositionConfig:
    """Every knob of the superposition part (``monorobust toy --n-features ...``)."""

    SECTION: ClassVar[str] = "superposition"
    """Where this config sits in ``ToyConfig``: errors name keys as SECTION.field."""

    n_features: Annotated[int, AT_LEAST_1] = 40
    """Toy model: number of sparse input features n."""
    n_hidden: Annotated[int, AT_LEAST_1] = 20
    """Toy model: hidden dimensions m."""
    sparsity: Annotated[float, FRACTION] = 0.9
    """Toy model: probability that a feature is zero, in [0, 1)."""
    importance_decay: Annotated[float, POSITIVE] = 0.9
    """Toy model: importance of feature i is decay**i (1 = all equal)."""
    steps: Annotated[int, AT_LEAST_1] = 3000
    """Toy model: Adam steps."""
    batch_size: Annotated[int, AT_LEAST_1] = 1024
    """Toy model: samples per step."""
    n_seeds: Annotated[int, AT_LEAST_1] = 3
    """Toy model: seeds (independent models, data and noise) for the spread bands."""
    num_classes: Annotated[int, Range(ge=2)] = 4
    """Downstream task: classes C (feature groups)."""
    label_rates: Annotated[tuple[float, ...], NON_NEGATIVE] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    """Downstream task: label-noise rates, each in [0, 1 - 1/C)."""
    noise_stds: Annotated[tuple[float, ...], NON_NEGATIVE] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
    """Downstream task: Gaussian input-noise stds (>= 0) added to x before encoding."""
    n_train: Annotated[int, AT_LEAST_1] = 4000
    """Downstream task: training (and test) samples per seed."""
    probe_steps: Annotated[int, AT_LEAST_1] = 300
    """Downstream task: full-batch Adam steps of the linear classifier."""
    represented_threshold: Annotated[float, NON_NEGATIVE] = 0.5
    """A feature is represented when its column norm in W exceeds this."""

    def __post_init__(self) -> None:
        check_fields(self)
        check_label_rates(f"{self.SECTION}.label_rates", self.label_rates, self.num_classes)


def _curve(per_seed: list[list[float]]) -> dict[str, Any]:
    t = torch.tensor(per_seed, dtype=torch.float64)
    std = t.std(dim=0) if t.shape[0] > 1 else torch.zeros(t.shape[1], dtype=torch.float64)
    return {"per_seed": per_seed, "mean": [round(float(v), 6) for v in t.mean(dim=0)],
            "std": [round(float(v), 6) for v in std]}


def _paired_se(a: list[list[float]], b: list[list[float]]) -> list[float] | None:
    d = torch.tensor(a, dtype=torch.float64) - torch.tensor(b, dtype=torch.float64)
    return None if d.shape[0] < 2 else [float(v) for v in d.std(dim=0) / d.shape[0] ** 0.5]


def _crossovers(xs: list[float], a: list[list[float]], b: list[list[float]]
                ) -> tuple[list[Crossover], str]:
    """Crossings of the seed means of ``a`` and ``b`` (per seed x level), and why one is not
    significant. Significant means outside the paired 95% t interval over the seeds: with 3
    seeds (2 degrees of freedom) that is 4.30 standard errors; 2 would be an 82% interval."""
    from scipy import stats

    mean = lambda v: _curve(v)["mean"]                  # noqa: E731  (as the curves show it)
    se = _paired_se(a, b)
    if se is None:
        return find_crossovers(xs, mean(a), mean(b), None), "one seed, no standard error"
    z = float(stats.t.ppf(0.975, len(a) - 1))
    return (find_crossovers(xs, mean(a), mean(b), se, z=z),
            f"within the 95% t interval, {z:.2f} s.e. over {len(a)} seeds")


def run_superposition(cfg: SuperpositionConfig, base_seed: int = 0
                      ) -> tuple[dict[str, Any], dict[tuple[int, str], ToyModel]]:
    """The part's JSON dict (schema in ``theory.toy``) and the trained models of seeds
    ``base_seed .. base_seed + n_seeds - 1``."""
    seeds = tuple(range(base_seed, base_seed + cfg.n_seeds))
    models = train_toy_models(seeds, n_features=cfg.n_features, n_hidden=cfg.n_hidden,
                              sparsity=cfg.sparsity, decay=cfg.importance_decay,
                              steps=cfg.steps, batch_size=cfg.batch_size)
    entries: dict[str, list[dict[str, Any]]] = {c: [] for c in CODES}
    acc_label: dict[str, list[list[float]]] = {c: [] for c in CODES}
    acc_input: dict[str, list[list[float]]] = {c: [] for c in CODES}
    realised: list[float] = []
    rates, stds = with_clean(cfg.label_rates), with_clean(cfg.noise_stds)
    for seed in seeds:
        for code in CODES:
            model = models[(seed, code)]
            ms = monosemanticity(model.W, cfg.represented_threshold)
            entries[code].append({"seed": seed, "final_loss": round(model.final_loss, 6),
                                  "polysemantic_dims": sum(k > 1 for k in ms.features_per_dim),
                                  **ms._asdict()})
            res = robustness_sweep(model, seed, cfg.sparsity, cfg.num_classes, rates, stds,
                                   n_train=cfg.n_train, n_test=cfg.n_train, steps=cfg.probe_steps)
            acc_label[code].append(res.label_noise)
            acc_input[code].append(res.input_noise)
            realised = res.realised_rates
    result: dict[str, Any] = {
        "config": {k: (list(v) if isinstance(v, tuple) else v)
                   for k, v in dataclasses.asdict(cfg).items()},
        "seeds": list(seeds), "task": TASK, "models": entries,
    }
    summary = []
    for code in CODES:
        rep = [e["represented"] for e in entries[code]]
        share = [e["mean_top_share"] for e in entries[code]]
        summary.append(f"{code}: features represented {rep} (m = {cfg.n_hidden}), mean top-feature "
                       f"share per dim {[round(s, 3) for s in share]}")
    for axis, xname, xs, acc in (("label_noise", "rates", list(rates), acc_label),
                                 ("input_noise", "stds", list(stds), acc_input)):
        curves = {c: _curve(acc[c]) for c in CODES}
        found, why = _crossovers(xs, acc["mono"], acc["poly"])
        result[axis] = {xname: xs, "accuracy": curves, "crossovers": [c._asdict() for c in found]}
        clean = (f"clean accuracy poly {curves['poly']['mean'][0]:.3f}, "
                 f"mono {curves['mono']['mean'][0]:.3f}")
        summary.append(f"{describe(found, axis.replace('_', ' '), xs[0], xs[-1], why)} ({clean}; "
                       f"at {xs[-1]:g}: poly {curves['poly']['mean'][-1]:.3f}, "
                       f"mono {curves['mono']['mean'][-1]:.3f})")
    result["label_noise"]["realised_rates"] = realised
    result["summary"] = summary
    return result, models
