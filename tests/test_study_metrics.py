"""Multiple-comparison corrections (Holm, Benjamini-Hochberg) and cross-seed stability."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monorobust.errors import ConfigError
from monorobust.metrics import benjamini_hochberg, cross_seed_stability, holm

P = [0.01, 0.04, 0.03, 0.005]


def test_holm_on_hand_worked_p_values():
    # sorted: 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04;
    # running maximum 0.02, 0.03, 0.06, 0.06 (0.04 may not be adjusted below 0.03's 0.06)
    c = holm(P, alpha=0.05)
    assert np.allclose(c.adjusted, [0.03, 0.06, 0.06, 0.02])
    assert c.reject.tolist() == [True, False, False, True]
    assert c.method == "Holm (family-wise error 5%)"


def test_benjamini_hochberg_on_the_same_p_values_is_less_strict():
    # p * m / rank = 0.02, 0.02, 0.04, 0.04 (sorted), running minimum from the top
    c = benjamini_hochberg(P, alpha=0.05)
    assert np.allclose(c.adjusted, [0.02, 0.04, 0.04, 0.02])
    assert c.reject.all()
    assert "Benjamini-Hochberg" in c.method and "false discovery rate" in c.method


def test_holm_caps_at_one_keeps_shape_and_leaves_tests_not_run_out():
    c = holm(np.array([[0.01, np.nan], [0.04, 0.9]]))
    # m = 3: sorted 0.01, 0.04, 0.9 -> 0.03, 0.08, 0.9
    assert c.adjusted.shape == (2, 2) and np.isnan(c.adjusted[0, 1])
    assert np.allclose(c.adjusted[[0, 1, 1], [0, 0, 1]], [0.03, 0.08, 0.9])
    assert c.reject.tolist() == [[True, False], [False, False]]
    assert holm([0.6, 0.7]).adjusted.max() == 1.0
    assert holm([]).adjusted.shape == (0,)


@pytest.mark.parametrize("bad,match", [([0.1, 1.2], "pvalues"), ([-0.1], "pvalues")])
def test_corrections_name_bad_input(bad, match):
    for correct in (holm, benjamini_hochberg):
        with pytest.raises(ConfigError, match=match):
            correct(bad)
    with pytest.raises(ConfigError, match="alpha"):
        holm([0.1], alpha=0)


def test_a_permuted_sign_flipped_copy_is_perfectly_stable():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(500, 12, generator=g)
    perm = torch.randperm(12, generator=g)
    b = a[:, perm] * torch.tensor([1.0, -1.0] * 6) * 3 + 7     # positions, signs, scale, shift
    s = cross_seed_stability(a, b)
    assert s.mean_matched_correlation == pytest.approx(1.0, abs=1e-6)
    assert torch.equal(perm[s.dims_b], s.dims_a)               # each dimension found its copy


def test_independent_features_are_near_zero_and_dead_dims_are_left_out():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(4000, 16, generator=g), torch.randn(4000, 20, generator=g)
    b[:, :4] = 0                                                # four dead dimensions
    s = cross_seed_stability(a, b)
    assert s.dead_b == 4 and s.dead_a == 0 and len(s.matched) == 16
    assert s.mean_matched_correlation < 0.06                    # ~ max of 16 |N(0, 1/4000)|


def test_partially_shared_features_sit_in_between():
    g = torch.Generator().manual_seed(2)
    shared = torch.randn(2000, 8, generator=g)
    a = shared + torch.randn(2000, 8, generator=g)              # correlation 1/2 per dimension
    b = shared + torch.randn(2000, 8, generator=g)
    assert cross_seed_stability(a, b).mean_matched_correlation == pytest.approx(0.5, abs=0.05)


def test_stability_names_mismatched_rows():
    with pytest.raises(ConfigError, match="same samples"):
        cross_seed_stability(torch.randn(10, 3), torch.randn(11, 3))
