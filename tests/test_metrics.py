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


def test_summarize_returns_every_metric():
    labels = torch.arange(100) % 4
    s = metrics.summarize(torch.relu(torch.randn(100, 16)), labels)
    assert s.dims == 16 and s.active_dims + s.dead_dims == 16
    assert 0 <= s.sparsity <= 1


def test_topk_purity_counts_only_active_samples_of_sparse_dimensions():
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2, 2])
    feats = torch.zeros(8, 2)
    feats[0, 0], feats[1, 0] = 1.0, 2.0          # dim 0 fires on two class-0 samples only
    feats[:, 1] = torch.arange(8.0)              # dim 1 dense: top 4 are class 2
    per_dim = metrics.topk_purity_per_dim(feats, labels, k=4)
    assert per_dim[0] == 1.0 and per_dim[1] == 1.0

