"""The two-feature example: a monosemantic code ``x1`` against polysemantic ``x1 - x2``.

Data: ``x1, x2`` independent, each 0 with probability ``S`` and otherwise U(0, 1); the label is
``y = [x1 > x2]`` (so ``x1 = x2 = 0`` is class 0). Codes (one number per sample)::

    mono      z = x1
    poly      z = x1 - x2
    weighted  z = w1 x1 - w2 x2

Gaussian input noise of std ``lam`` is added to each of ``x1, x2`` before coding, so ``poly``
carries noise of variance ``2 lam^2`` and ``weighted`` ``(w1^2 + w2^2) lam^2``.

Closed forms (clean, derived by hand; the tests check the Monte Carlo against them)::

    P(y=1)                    = (1 - S^2) / 2
    E[x1 1{y=1}]              = (1 - S) (S/2 + (1 - S)/3)
    E[(x1 - x2) 1{y=1}]       = (1 - S) (S/2 + (1 - S)/6),     E[x1 - x2] = 0
    best threshold on x1      t* = (1 - 2S) / (2 (1 - S)) for S < 1/2, else 0 (predict 1 iff x1 > 0)
    its accuracy              A(t) = (1-S)[S(1-t) + (1-S)(1-t^2)/2]
                                     + S + (1-S)t - (1-S)[St + (1-S)t^2/2]
    best threshold on x1 - x2 0 (accuracy 1: the code separates the classes perfectly)

Label noise with binary labels: a noisy label equals the clean one with probability ``1 - r``.
At population level the noisy posterior is ``r + (1 - 2r) P(y=1|z)``, monotone in the clean one,
so the best threshold does not move: label noise only hurts through finite training sets.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

CODES = ("mono", "poly", "weighted")


def sample(num: int, sparsity: float,
           generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(num, 2) float64 features and (num,) int64 labels ``[x1 > x2]``."""
    values = torch.rand(num, 2, generator=generator, dtype=torch.float64)
    active = torch.rand(num, 2, generator=generator, dtype=torch.float64) >= sparsity
    x = values * active
    return x, (x[:, 0] > x[:, 1]).long()


def encode(x: torch.Tensor, code: str, weights: tuple[float, float] = (1.0, 0.5)) -> torch.Tensor:
    """(..., 2) -> (...): the ``mono``, ``poly`` or ``weighted`` code."""
    if code == "mono":
        return x[..., 0]
    if code == "poly":
        return x[..., 0] - x[..., 1]
    if code == "weighted":
        return weights[0] * x[..., 0] - weights[1] * x[..., 1]
    raise ValueError(f"code must be one of {CODES}, got {code!r}")


class ClosedForm(NamedTuple):
    """Exact clean quantities for sparsity ``S`` (see the module docstring)."""

    p_y1: float
    mono_mean_y1: float
    mono_mean_y0: float
    poly_mean_y1: float
    poly_mean_y0: float
    mono_best_threshold: float
    mono_best_accuracy: float
    poly_best_accuracy: float


def mono_accuracy(t: float, s: float) -> float:
    """Clean accuracy of "predict 1 iff x1 > t", for t in [0, 1]."""
    a = 1.0 - s
    return (a * (s * (1 - t) + a * (1 - t * t) / 2) + s + a * t
            - a * (s * t + a * t * t / 2))


def closed_form(s: float) -> ClosedForm:
    """The clean class-conditional means, P(y=1) and best threshold accuracies."""
    a = 1.0 - s
    p1 = (1.0 - s * s) / 2.0
    m_x1_y1 = a * (s / 2 + a / 3)
    m_d_y1 = a * (s / 2 + a / 6)
    t_star = (1 - 2 * s) / (2 * a) if s < 0.5 else 0.0
    return ClosedForm(
        p_y1=p1, mono_mean_y1=m_x1_y1 / p1, mono_mean_y0=(a / 2 - m_x1_y1) / (1 - p1),
        poly_mean_y1=m_d_y1 / p1, poly_mean_y0=-m_d_y1 / (1 - p1),
        mono_best_threshold=t_star, mono_best_accuracy=mono_accuracy(t_star, s),
        poly_best_accuracy=1.0)


def fisher_ratio(z: torch.Tensor, w1: torch.Tensor) -> float:
    """``(mu1 - mu0)^2 / (var0 + var1)`` with soft class weights ``w1`` (class 1), ``1 - w1``."""
    out = []
    for w in (1.0 - w1, w1):
        mu = (w * z).sum() / w.sum()
        out.append((mu, (w * (z - mu).square()).sum() / w.sum()))
    (mu0, v0), (mu1, v1) = out
    return float((mu1 - mu0).square() / (v0 + v1).clamp_min(1e-300))


def auc(z: torch.Tensor, w1: torch.Tensor) -> float:
    """P(z of a class-1 draw > z of a class-0 draw) + half the ties, with soft weights ``w1``.

    Point masses (``x1 = 0`` or ``x1 = x2 = 0``) make ties common, hence the grouping.
    """
    order = torch.argsort(z)
    zs, a1 = z[order], w1[order]
    a0 = 1.0 - a1
    _, inverse = torch.unique_consecutive(zs, return_inverse=True)
    g = int(inverse.max()) + 1
    g1 = torch.zeros(g, dtype=z.dtype).index_add_(0, inverse, a1)
    g0 = torch.zeros(g, dtype=z.dtype).index_add_(0, inverse, a0)
    below0 = torch.cumsum(g0, 0) - g0
    return float((g1 * (below0 + 0.5 * g0)).sum() / (g1.sum() * g0.sum()))


class Stumps(NamedTuple):
    """Batched threshold classifiers: predict ``direction == +1`` ? ``z > t`` : ``z <= t``."""

    threshold: torch.Tensor
    """(R,) float64; +-inf for "always one class"."""
    direction: torch.Tensor
    """(R,) +1 or -1."""


def fit_stumps(z: torch.Tensor, w1: torch.Tensor) -> Stumps:
    """Best threshold classifier per row by (weighted) training accuracy.

    Args:
        z: (R, N) code values; w1: (R, N) weight of class 1 per sample (0/1 for hard labels,
            ``r + (1 - 2r) y`` for the population limit under label noise).
    Thresholds sit halfway between neighbouring distinct values; among equal scores the first
    (direction +1, lowest threshold) wins.
    """
    zs, order = torch.sort(z, dim=1)
    a1 = torch.gather(w1, 1, order)
    zero = torch.zeros(z.shape[0], 1, dtype=z.dtype)
    c1 = torch.cat([zero, torch.cumsum(a1, 1)], 1)  # (R, N+1): class-1 weight in the first k
    c0 = torch.cat([zero, torch.cumsum(1.0 - a1, 1)], 1)
    t1, t0 = c1[:, -1:], c0[:, -1:]
    valid = torch.ones_like(c1, dtype=torch.bool)
    valid[:, 1:-1] = zs[:, :-1] < zs[:, 1:]
    score = torch.cat([c0 + t1 - c1, c1 + t0 - c0], 1).masked_fill(~valid.repeat(1, 2), -math.inf)
    best = score.argmax(dim=1)
    k, direction = best % c1.shape[1], torch.where(best < c1.shape[1], 1, -1)
    inf = torch.full((z.shape[0], 1), math.inf, dtype=z.dtype)
    edges = torch.cat([-inf, zs, inf], 1)
    lo, hi = edges.gather(1, k.unsqueeze(1)), edges.gather(1, (k + 1).unsqueeze(1))
    mid = torch.where(k.unsqueeze(1) == 0, -inf,
                      torch.where(k.unsqueeze(1) == z.shape[1], inf, (lo + hi) / 2))
    return Stumps(mid.squeeze(1), direction)


def stump_accuracy(stumps: Stumps, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(R,) accuracies of the stumps on test codes ``z`` (M,) with labels ``y`` (M,)."""
    z0, z1 = torch.sort(z[y == 0]).values, torch.sort(z[y == 1]).values
    le0 = torch.searchsorted(z0, stumps.threshold, right=True).double()
    le1 = torch.searchsorted(z1, stumps.threshold, right=True).double()
    n0, n1 = float(z0.numel()), float(z1.numel())
    pos = le0 + n1 - le1
    return torch.where(stumps.direction > 0, pos, n0 + n1 - pos) / (n0 + n1)


def batch_means(values: list[float]) -> tuple[float, float]:
    """Mean and standard error of per-batch estimates."""
    t = torch.tensor(values, dtype=torch.float64)
    return float(t.mean()), float(t.std() / math.sqrt(len(values))) if len(values) > 1 else 0.0
