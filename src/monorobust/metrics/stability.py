"""Cross-seed stability: do two training runs (seeds) learn the same dimensions?

A monosemantic dimension stands for one concept, so a second seed should learn it again, perhaps
in another position or with the opposite sign. We match the dimensions of the two seeds one to
one so that the total absolute Pearson correlation of the matched pairs is largest (the
Hungarian assignment, SciPy's ``linear_sum_assignment``) and report the mean over the matched
pairs: 1 when one seed's features are a permutation (and sign flips) of the other's, near 0 when
they are unrelated. Both feature matrices must be computed on the same samples, row for row.

Dimensions that are constant over the samples (dead) correlate with nothing and carry no feature
to be stable; they are left out before matching and counted (``dead_a``, ``dead_b``), so the
mean describes the live dimensions (``metrics.active_dims`` reports deadness on its own).

Cost: one (Da, Db) correlation matrix, O(N Da Db), and an O(D^3) assignment: for 2,048
dimensions pass ~10,000 samples (a few seconds on a CPU).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from monorobust.checks import check_features
from monorobust.errors import ConfigError


class Stability(NamedTuple):
    mean_matched_correlation: float
    """Mean |correlation| over the matched pairs of live dimensions (NaN if a side has none)."""
    matched: torch.Tensor
    """(M,) |correlation| of each matched pair, M = min(live dims of a, of b)."""
    dims_a: torch.Tensor
    """(M,) the dimension of ``a`` in each pair (indices into the original columns)."""
    dims_b: torch.Tensor
    """(M,) its partner in ``b``."""
    dead_a: int
    """Constant (dead) dimensions of ``a``, left out of the matching."""
    dead_b: int


def _standardise(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Live columns of ``x`` z-scored (float64), and their indices."""
    x = x.double()
    std = x.std(0)
    live = torch.nonzero(std > 1e-12 * x.abs().amax(0).clamp_min(1e-300)).squeeze(1)
    x = x[:, live]
    return (x - x.mean(0)) / x.std(0), live


def cross_seed_stability(a: torch.Tensor, b: torch.Tensor) -> Stability:
    """Mean matched |correlation| between the dimensions of ``a`` (N, Da) and ``b`` (N, Db).

    Args:
        a, b: two seeds' features of the same N samples (N >= 2), row for row.
    """
    from scipy.optimize import linear_sum_assignment

    a, b = check_features(a, "a"), check_features(b, "b")
    if a.shape[0] != b.shape[0]:
        raise ConfigError(f"a and b must hold the same samples row for row; got {a.shape[0]} and "
                          f"{b.shape[0]} rows")
    if a.shape[0] < 2:
        raise ConfigError("cross-seed stability needs at least 2 samples")
    za, live_a = _standardise(a)
    zb, live_b = _standardise(b)
    dead_a, dead_b = a.shape[1] - len(live_a), b.shape[1] - len(live_b)
    if not len(live_a) or not len(live_b):
        empty = torch.zeros(0, dtype=torch.long)
        return Stability(float("nan"), torch.zeros(0), empty, empty, dead_a, dead_b)
    corr = ((za.T @ zb) / (a.shape[0] - 1)).abs().clamp_max(1.0)      # (Da_live, Db_live)
    rows, cols = linear_sum_assignment(corr.numpy(), maximize=True)
    rows, cols = torch.as_tensor(rows), torch.as_tensor(cols)
    matched = corr[rows, cols].float()
    return Stability(float(matched.mean()), matched, live_a[rows], live_b[cols], dead_a, dead_b)
