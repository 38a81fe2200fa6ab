"""Sparsity, dead dimensions, effective rank and correlation of a feature matrix (N, D)."""

from __future__ import annotations

import torch

from monorobust.metrics.monosemanticity import ACTIVE_THRESHOLD, active_mask


def sparsity(features: torch.Tensor, threshold: float = ACTIVE_THRESHOLD) -> float:
    """Share of entries with |z| <= threshold (0: dense, 1: all zero)."""
    return int((~active_mask(features, threshold)).sum()) / features.numel()


def active_dims(features: torch.Tensor, threshold: float = ACTIVE_THRESHOLD) -> int:
    """Dimensions active on at least one sample; ``D - active_dims`` are dead."""
    return int(active_mask(features, threshold).any(0).sum())


def effective_rank(features: torch.Tensor) -> float:
    """exp(entropy of the normalised singular values) of the centred features (Roy & Vetterli 2007).

    Between 1 (all variance on one direction) and min(N, D) (isotropic).
    """
    x = features.double() - features.double().mean(0, keepdim=True)
    s = torch.linalg.svdvals(x)
    p = s / s.sum().clamp_min(1e-12)
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def mean_abs_correlation(features: torch.Tensor) -> float:
    """Mean |Pearson correlation| between distinct non-constant dimensions (0: uncorrelated)."""
    x = features.double()
    x = x[:, x.std(0) > 0]
    d = x.shape[1]
    if d < 2:
        return float("nan")
    x = (x - x.mean(0)) / x.std(0)
    corr = (x.T @ x) / (x.shape[0] - 1)
    off = corr.abs().sum() - corr.diagonal().abs().sum()
    return float(off / (d * (d - 1)))
