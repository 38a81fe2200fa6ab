"""Monosemanticity and geometry of features: pure, vectorised functions of (features, labels).

Works on any (N, D) tensor from any encoder::

    from monorobust import metrics
    metrics.semantic_consistency(features, labels)
    metrics.summarize(features, labels)          # every metric at once
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from monorobust.checks import check_features, check_labels
from monorobust.metrics.geometry import active_dims, effective_rank, mean_abs_correlation, sparsity
from monorobust.metrics.multiple import Correction, benjamini_hochberg, holm
from monorobust.metrics.stability import Stability, cross_seed_stability
from monorobust.metrics.monosemanticity import (
    ACTIVE_THRESHOLD, active_mask, semantic_consistency, semantic_consistency_per_dim,
    topk_purity, topk_purity_per_dim,
)


class FeatureMetrics(NamedTuple):
    semantic_consistency: float
    """Authors' definition: majority-label share where a dimension is active (mean over dims)."""
    topk_purity: float
    """Majority-label share among each dimension's top-k activations (mean over dims)."""
    sparsity: float
    """Share of zero entries."""
    active_dims: int
    """Dimensions active on at least one sample."""
    dead_dims: int
    """Dimensions never active."""
    effective_rank: float
    """exp(entropy of normalised singular values) of the centred features."""
    mean_abs_correlation: float
    """Mean |correlation| between distinct dimensions."""
    dims: int
    """Feature dimension D."""


def summarize(features: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None,
              topk: int = 100) -> FeatureMetrics:
    """Every metric of ``features`` (N, D) with ``labels`` (N,)."""
    features = check_features(features, "features")
    check_labels(labels, "labels", num_classes, n=features.shape[0])
    n_active = active_dims(features)
    return FeatureMetrics(
        semantic_consistency=semantic_consistency(features, labels, num_classes),
        topk_purity=topk_purity(features, labels, topk, num_classes),
        sparsity=sparsity(features),
        active_dims=n_active,
        dead_dims=features.shape[1] - n_active,
        effective_rank=effective_rank(features),
        mean_abs_correlation=mean_abs_correlation(features),
        dims=features.shape[1],
    )


__all__ = ["ACTIVE_THRESHOLD", "Correction", "FeatureMetrics", "Stability", "active_dims",
           "active_mask", "benjamini_hochberg", "cross_seed_stability", "effective_rank", "holm",
           "mean_abs_correlation", "semantic_consistency", "semantic_consistency_per_dim",
           "sparsity", "summarize", "topk_purity", "topk_purity_per_dim"]
