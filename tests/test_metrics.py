import math

import pytest
import torch

from monorobust import metrics


def test_semantic_consistency_is_one_for_class_one_hot_features():
    labels = torch.arange(500) % 10
    feats = torch.nn.functional.one_hot(labels, 10).float() * 3.0
    assert metrics.semantic_consistency(feats, labels) == 1.0
    assert metrics.topk_purity(feats, labels, k=20) == 1.0
    assert metrics.sparsity(feats) == 0.9
    assert metrics.active_dims(feats) == 10


def test_semantic_consistency_is_about_one_over_c_for_random_dense_features():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (5000,), generator=g)
    feats = torch.randn(5000, 64, generator=g)
    sc = metrics.semantic_consistency(feats, labels)
    assert abs(sc - 0.1) < 0.02
    assert metrics.topk_purity(feats, labels, k=100) < 0.3


def test_semantic_consistency_ignores_dead_dimensions_and_matches_a_hand_count():
    labels = torch.tensor([0, 0, 1, 1])
    feats = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    per_dim = metrics.semantic_consistency_per_dim(feats, labels)
    assert per_dim[0] == 2 / 3 and per_dim[1] == 1.0 and torch.isnan(per_dim[2])
    assert abs(metrics.semantic_consistency(feats, labels) - (2 / 3 + 1) / 2) < 1e-7
    assert metrics.active_dims(feats) == 2


def test_effective_rank_and_correlation_on_known_matrices():
    g = torch.Generator().manual_seed(0)
    iso = torch.randn(20000, 8, generator=g)
    assert abs(metrics.effective_rank(iso) - 8) < 0.1
    rank_one = torch.randn(1000, 1, generator=g) @ torch.ones(1, 8)
    assert metrics.effective_rank(rank_one) < 1.01
    assert metrics.mean_abs_correlation(rank_one) > 0.999
    assert metrics.mean_abs_correlation(iso) < 0.02


def test_summarize_matches_a_hand_computation_on_a_tiny_example():
    labels = torch.tensor([0, 0, 1, 1])
    feats = torch.tensor([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.5, 1.0, 0.0]])
    s = metrics.summarize(feats, labels, topk=2)
    # dim 0 fires on samples 0, 1, 3 (labels 0, 0, 1); dim 1 on 2, 3 (1, 1); dim 2 never.
    assert s.semantic_consistency == pytest.approx((2 / 3 + 1) / 2)
    # Top 2 of dim 0: samples 1, 0 (both class 0); of dim 1: samples 2, 3 (both class 1).
    assert s.topk_purity == 1.0
    assert s.sparsity == 7 / 12                    # 7 zeros among 12 entries
    assert (s.active_dims, s.dead_dims, s.dims) == (2, 1, 3)
    # Centred dims 0 and 1 (dim 2 is constant): dx = x - 0.875, dy = y - 1.
    sxx, syy, sxy = 2.1875, 6.0, -3.0
    assert s.mean_abs_correlation == pytest.approx(abs(sxy) / math.sqrt(sxx * syy))
    # Singular values: square roots of the eigenvalues of the 2x2 Gram matrix [[sxx, sxy], [sxy, syy]].
    tr, det = sxx + syy, sxx * syy - sxy ** 2
    sv = [math.sqrt((tr + sign * math.sqrt(tr ** 2 - 4 * det)) / 2) for sign in (1, -1)]
    p = [v / sum(sv) for v in sv]
    assert s.effective_rank == pytest.approx(math.exp(-sum(q * math.log(q) for q in p)))


def test_topk_purity_counts_only_active_samples_of_sparse_dimensions():
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2, 2])
    feats = torch.zeros(8, 2)
    feats[0, 0], feats[1, 0] = 1.0, 2.0          # dim 0 fires on two class-0 samples only
    feats[:, 1] = torch.arange(8.0)              # dim 1 dense: top 4 are class 2
    per_dim = metrics.topk_purity_per_dim(feats, labels, k=4)
    assert per_dim[0] == 1.0 and per_dim[1] == 1.0

