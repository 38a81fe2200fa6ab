"""Sweeps of the two-feature example over label-noise rate and Gaussian input-noise std.

Measures (each for the codes ``mono``, ``poly``, ``weighted``; "clean labels" are ``[x1 > x2]``):

- ``fisher``: Fisher ratio ``(mu1 - mu0)^2 / (var0 + var1)`` of the code between the classes
  *as labelled* (noisy labels: population weights ``r + (1 - 2r) y``) on noisy inputs.
- ``auc``: probability that a class-1 code value exceeds a class-0 one (ties half), same classes.
- ``population_accuracy``: clean-label test accuracy of the best threshold classifier fitted on
  an infinite noisy-labelled training set (approximated by ``n_pop`` samples with the population
  label weights); with test-time input noise the threshold is fitted on clean inputs.
- ``refit_accuracy``: the same, but the threshold is fitted on noisy inputs too (the best
  threshold for the noisy code: its separability in accuracy terms; equals
  ``population_accuracy`` along the label-noise axis).
- ``erm_accuracy_n{N}``: clean-label test accuracy of the threshold classifier with the best
  training accuracy on ``N`` samples whose labels were flipped at exactly ``round(r N)`` places
  (``repeats`` training sets; mean and standard error over them).

Population measures are estimated on ``n_pop`` test samples split into ``batches`` equal chunks;
their standard error is the spread of the per-chunk estimates / sqrt(batches). Every code is
computed on the same samples, flips and noise draws (paired), so crossover significance uses the
standard error of the difference. Label noise is applied with clean inputs; input noise (added
to the *test* inputs of each of ``x1, x2``) with clean labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import torch

from monorobust.fields import AT_LEAST_1, FRACTION, NON_NEGATIVE, POSITIVE, Range, check_fields
from monorobust.perturb.label_noise import check_label_rates, symmetric_label_noise
from monorobust.seeding import derive_seed
from monorobust.theory import two_feature as tf
from monorobust.theory.crossover import describe, find_crossovers, with_clean

MEASURES = {
    "fisher": "Fisher ratio (mu1-mu0)^2/(var0+var1) between the labelled classes",
    "auc": "AUC: P(z|class 1 > z|class 0), ties counted half",
    "population_accuracy": "clean test accuracy of the best threshold fitted on infinite "
                           "noisy-labelled data (clean training inputs)",
    "refit_accuracy": "clean test accuracy of the best threshold fitted on infinite noisy-labelled "
                      "data with noisy inputs",
}


@dataclass(frozen=True)
class TwoFeatureConfig:
    """Every knob of the two-feature part (``monorobust toy --tf-...``)."""

    SECTION: ClassVar[str] = "two_feature"
    """Where this config sits in ``ToyConfig``: errors name keys as SECTION.field."""

    sparsity: Annotated[float, FRACTION] = 0.5
    """Probability S that x1 (or x2) is zero, in [0, 1)."""
    weights: Annotated[tuple[float, float], POSITIVE] = (1.0, 0.5)
    """(w1, w2) of the weighted code w1 x1 - w2 x2."""
    label_rates: Annotated[tuple[float, ...], NON_NEGATIVE] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25,
                                                               0.3, 0.35, 0.4, 0.45)
    """Label-noise rates, each in [0, 0.5)."""
    noise_stds: Annotated[tuple[float, ...], NON_NEGATIVE] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75,
                                                              1.0, 1.5, 2.0)
    """Gaussian noise stds (>= 0) added to each of x1, x2."""
    n_train: Annotated[tuple[int, ...], Range(ge=2)] = (100, 1000)
    """Training-set sizes for the finite-sample threshold classifier."""
    repeats: Annotated[int, AT_LEAST_1] = 200
    """Training sets per size (Monte Carlo repeats)."""
    n_pop: Annotated[int, Range(ge=2000)] = 200_000
    """Monte Carlo samples for the population measures (20 chunks of at least 100)."""

    def __post_init__(self) -> None:
        check_fields(self)
        check_label_rates(f"{self.SECTION}.label_rates", self.label_rates, 2)


def _erm_name(n: int) -> str:
    return f"erm_accuracy_n{n}"


def _stats(per: torch.Tensor) -> tuple[float, float]:
    """Mean and standard error over the last dimension."""
    k = per.shape[-1]
    return float(per.mean()), float(per.std() / k ** 0.5) if k > 1 else 0.0


def _flips(labels: torch.Tensor, rate: float, gen: torch.Generator) -> torch.Tensor:
    """(repeats, N) clean labels -> the same with ``round(rate N)`` flips in each row."""
    return torch.stack([symmetric_label_noise(row, rate, 2, gen).labels for row in labels])


def sweep_two_feature(cfg: TwoFeatureConfig, seed: int = 0, batches: int = 20) -> dict[str, Any]:
    """All two-feature numbers as a JSON-ready dict (schema: ``monorobust.theory.toy``)."""
    sparsity, weights = cfg.sparsity, cfg.weights
    label_rates, noise_stds = with_clean(cfg.label_rates), with_clean(cfg.noise_stds)
    n_train, repeats, n_pop = cfg.n_train, cfg.repeats, cfg.n_pop
    gen = torch.Generator().manual_seed(seed)
    x_fit, y_fit = tf.sample(n_pop, sparsity, gen)
    x_test, y_test = tf.sample(n_pop, sparsity, gen)
    eps = torch.randn(x_test.shape, generator=gen, dtype=torch.float64)
    eps_fit = torch.randn(x_fit.shape, generator=gen, dtype=torch.float64)
    # Each training size and each (size, rate) draws from a generator of its own, so that a
    # cell's numbers do not depend on which other sizes and rates are listed.
    train = {n: tf.sample(repeats * n, sparsity,
                          torch.Generator().manual_seed(derive_seed(seed, "train", n)))
             for n in n_train}
    # Flips shared by all codes: one set of (repeats, N) noisy labels per (N, rate).
    flips = {(n, r): _flips(y.view(repeats, n), r,
                            torch.Generator().manual_seed(derive_seed(seed, "label_noise", n, r)))
             for n, (_, y) in train.items() for r in label_rates}
    chunks = torch.arange(n_pop) % batches

    def code(x: torch.Tensor, c: str) -> torch.Tensor:
        return tf.encode(x, c, weights)

    def per_batch(fn: Callable[[torch.Tensor, torch.Tensor], float], z: torch.Tensor,
                  w1: torch.Tensor) -> torch.Tensor:
        return torch.tensor([fn(z[chunks == b], w1[chunks == b]) for b in range(batches)],
                            dtype=torch.float64)

    def point(rate: float, lam: float) -> dict[str, dict[str, torch.Tensor]]:
        """Per-code per-batch (or per-repeat) values of every measure at one (rate, lam)."""
        soft_test = rate + (1 - 2 * rate) * y_test.double()
        soft_fit = rate + (1 - 2 * rate) * y_fit.double()
        out: dict[str, dict[str, torch.Tensor]] = {}
        for c in tf.CODES:
            z_test = code(x_test + lam * eps, c)
            vals = {"fisher": per_batch(tf.fisher_ratio, z_test, soft_test),
                    "auc": per_batch(tf.auc, z_test, soft_test)}
            pop = tf.fit_stumps(code(x_fit, c).unsqueeze(0), soft_fit.unsqueeze(0))
            vals["population_accuracy"] = torch.stack(
                [tf.stump_accuracy(pop, z_test[chunks == b], y_test[chunks == b])[0]
                 for b in range(batches)])
            refit = pop if lam == 0 else tf.fit_stumps(code(x_fit + lam * eps_fit, c).unsqueeze(0),
                                                       soft_fit.unsqueeze(0))
            vals["refit_accuracy"] = torch.stack(
                [tf.stump_accuracy(refit, z_test[chunks == b], y_test[chunks == b])[0]
                 for b in range(batches)])
            for n, (x_tr, _) in train.items():
                stumps = tf.fit_stumps(code(x_tr, c).view(repeats, n), flips[(n, rate)].double())
                vals[_erm_name(n)] = tf.stump_accuracy(stumps, z_test, y_test)
            out[c] = vals
        return out

    result: dict[str, Any] = {
        "config": {"sparsity": sparsity, "weights": list(weights), "n_train": list(n_train),
                   "repeats": repeats, "n_pop": n_pop, "batches": batches, "seed": seed},
        "closed_form": tf.closed_form(sparsity)._asdict(),
        "measures": {**MEASURES, **{_erm_name(n): f"clean test accuracy of the best-training-"
                                    f"accuracy threshold on {n} noisy-labelled samples "
                                    f"(mean over {repeats} training sets)" for n in n_train}},
    }
    axes = {"label_noise": ("rate", list(label_rates), [(r, 0.0) for r in label_rates]),
            "input_noise": ("std", list(noise_stds), [(0.0, s) for s in noise_stds])}
    summary: list[str] = []
    for axis, (xname, xs, grid) in axes.items():
        points = [point(r, s) for r, s in grid]
        curves: dict[str, Any] = {}
        crossings: dict[str, Any] = {}
        for m in result["measures"]:
            curves[m] = {c: dict(zip(("mean", "se"), map(list, zip(*[_stats(p[c][m])
                                                                       for p in points]))))
                         for c in tf.CODES}
            crossings[m] = {}
            for other in ("poly", "weighted"):
                diffs = [p["mono"][m] - p[other][m] for p in points]
                # One draw (e.g. --tf-repeats 1) sizes no error: no crossing is significant.
                se = [_stats(d)[1] for d in diffs] if diffs[0].shape[-1] > 1 else None
                found = find_crossovers(xs, curves[m]["mono"]["mean"], curves[m][other]["mean"], se)
                crossings[m][other] = [c._asdict() for c in found]
                summary.append(f"{m}, mono vs {other}: "
                               + describe(found, axis.replace("_", " "), xs[0], xs[-1]))
        result[axis] = {xname + "s": xs, "curves": curves, "crossovers": crossings}
    result["summary"] = summary
    return result
