"""How monosemantic is each feature dimension? Pure, vectorised functions of (features, labels).

Shapes: ``features`` (N, D) float, ``labels`` (N,) int64 in [0, C).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from monorobust.checks import check_features, check_labels
from monorobust.errors import ConfigError

ACTIVE_THRESHOLD = 1e-5
"""|z| above this counts as active (the authors' threshold)."""


def _class_counts(weights: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N, D) non-negative weights -> (C, D) weighted label counts per dimension."""
    onehot = F.one_hot(labels, num_classes).to(weights.dtype)        # (N, C)
    return onehot.T @ weights                                       # (C, D)


def _checked(features: torch.Tensor, labels: torch.Tensor,
             num_classes: int | None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Validated ``(features (N, D), labels (N,), C)``; ``ConfigError`` naming a bad argument."""
    features = check_features(features, "features")
    labels = check_labels(labels, "labels", num_classes, n=features.shape[0])
    return features, labels, num_classes or int(labels.max()) + 1


def active_mask(features: torch.Tensor, threshold: float = ACTIVE_THRESHOLD) -> torch.Tensor:
    """(N, D) bool: where a dimension is active on a sample."""
    return features.abs() > threshold


def semantic_consistency_per_dim(features: torch.Tensor, labels: torch.Tensor,
                                 num_classes: int | None = None,
                                 threshold: float = ACTIVE_THRESHOLD) -> torch.Tensor:
    """(D,) share of the majority label among the samples where each dimension is active.

    NaN for dimensions active on no sample. For dense features every dimension is active on
    every sample, so the value is the majority class's share of the data (about 1/C).
    """
    features, labels, num_classes = _checked(features, labels, num_classes)
    counts = _class_counts(active_mask(features, threshold).float(), labels, num_classes)
    total = counts.sum(0)
    return torch.where(total > 0, counts.max(0).values / total.clamp_min(1), torch.nan)


def semantic_consistency(features: torch.Tensor, labels: torch.Tensor,
                         num_classes: int | None = None,
                         threshold: float = ACTIVE_THRESHOLD) -> float:
    """The authors' semantic consistency: ``semantic_consistency_per_dim`` averaged over the
    dimensions that are active on at least one sample (NaN if none is)."""
    per_dim = semantic_consistency_per_dim(features, labels, num_classes, threshold)
    return float(per_dim.nanmean())


def topk_purity_per_dim(features: torch.Tensor, labels: torch.Tensor, k: int = 100,
                        num_classes: int | None = None,
                        threshold: float = ACTIVE_THRESHOLD) -> torch.Tensor:
    """(D,) share of the majority label among each dimension's ``k`` most activated samples.

    Fair to dense features: it asks what a dimension responds to most, not where it is
    non-zero. Only active samples (|z| > threshold) count, so a sparse dimension that fires on
    fewer than ``k`` samples is judged on those it fires on, not on arbitrary zeros.
    Dimensions that are constant over the data or never active get NaN.
    """
    features, labels, num_classes = _checked(features, labels, num_classes)
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    k = min(k, features.shape[0])
    top = features.topk(k, dim=0)                                  # values, indices: (k, D)
    active = (top.values.abs() > threshold).float()                # (k, D)
    onehot = F.one_hot(labels[top.indices], num_classes).float()   # (k, D, C)
    counts = (onehot * active.unsqueeze(-1)).sum(0)                # (D, C)
    n_active = active.sum(0)
    purity = counts.max(-1).values / n_active.clamp_min(1)
    constant = features.amax(0) - features.amin(0) <= 0
    return torch.where(constant | (n_active == 0), torch.nan, purity)


def topk_purity(features: torch.Tensor, labels: torch.Tensor, k: int = 100,
                num_classes: int | None = None) -> float:
    """``topk_purity_per_dim`` averaged over non-constant dimensions."""
    return float(topk_purity_per_dim(features, labels, k, num_classes).nanmean())
