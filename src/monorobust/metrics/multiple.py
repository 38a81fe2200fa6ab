"""Multiple-comparison corrections for a matrix of verdicts (claim x condition).

A study tests every claim under many conditions (protocols x regimes x noise types); at 95% each,
about one test in twenty "supports" or "contradicts" by chance alone. Two corrections, both on
the p-values of all the matrix's tests at once:

- ``holm``: Holm (1979), step-down Bonferroni. Controls the family-wise error rate (the chance of
  *any* false verdict) at ``alpha`` under any dependence between the tests. Sorted p-values
  p_(1) <= ... <= p_(m) get adjusted values  max_{j <= i} min(1, (m - j + 1) p_(j)).
  SciPy has no Holm (``scipy.stats.false_discovery_control`` does BH and BY only) and
  statsmodels, which has one, is not a dependency; the few lines are written out here.
- ``benjamini_hochberg``: Benjamini & Hochberg (1995), which controls the false discovery rate
  (the expected share of false verdicts among those declared) for independent or positively
  dependent tests; less strict than Holm. SciPy's ``false_discovery_control(method="bh")``.

A test that could not be run (one seed, no spread) has p = NaN: it is left out of m, and its
adjusted p-value is NaN and never rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from monorobust.errors import ConfigError


class Correction(NamedTuple):
    adjusted: np.ndarray
    """Adjusted p-values, in the input's order and shape (NaN where the input is NaN)."""
    reject: np.ndarray
    """bool, True where the adjusted p-value is <= alpha: the verdict stands after correction."""
    method: str
    """How the correction is named in a rule text, e.g. "Holm (family-wise error 5%)"."""


def _check(pvalues: Sequence[float] | np.ndarray, alpha: float) -> np.ndarray:
    p = np.asarray(pvalues, dtype=float)
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")
    real = p[~np.isnan(p)]
    if ((real < 0) | (real > 1)).any():
        raise ConfigError(f"pvalues must lie in [0, 1] (or be NaN for tests not run); got "
                          f"{real[(real < 0) | (real > 1)][0]}")
    return p


def holm(pvalues: Sequence[float] | np.ndarray, alpha: float = 0.05) -> Correction:
    """Holm's step-down adjusted p-values (family-wise error rate ``alpha``)."""
    p = _check(pvalues, alpha)
    flat = p.ravel()
    ok = np.flatnonzero(~np.isnan(flat))
    adjusted = np.full(flat.shape, np.nan)
    if len(ok):
        order = ok[np.argsort(flat[ok], kind="stable")]
        m = len(order)
        scaled = np.minimum(1.0, (m - np.arange(m)) * flat[order])
        # the running maximum keeps the adjusted values in the p-values' order (monotone)
        adjusted[order] = np.maximum.accumulate(scaled)
    adjusted = adjusted.reshape(p.shape)
    return Correction(adjusted, np.nan_to_num(adjusted, nan=2.0) <= alpha,
                      f"Holm (family-wise error {alpha:.0%})")


def benjamini_hochberg(pvalues: Sequence[float] | np.ndarray, alpha: float = 0.05) -> Correction:
    """Benjamini-Hochberg adjusted p-values (false discovery rate ``alpha``)."""
    from scipy.stats import false_discovery_control

    p = _check(pvalues, alpha)
    flat = p.ravel()
    ok = ~np.isnan(flat)
    adjusted = np.full(flat.shape, np.nan)
    if ok.any():
        adjusted[ok] = false_discovery_control(flat[ok], method="bh")
    adjusted = adjusted.reshape(p.shape)
    return Correction(adjusted, np.nan_to_num(adjusted, nan=2.0) <= alpha,
                      f"Benjamini-Hochberg (false discovery rate {alpha:.0%})")
