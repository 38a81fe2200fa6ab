"""Noise-robust probe losses: GCE's limits, SCE against a hand computation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from monorobust.errors import ConfigError
from monorobust.objectives import (
    cross_entropy, generalized_cross_entropy, reverse_cross_entropy, symmetric_cross_entropy,
)


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return 3 * torch.randn(64, 10, generator=g, dtype=torch.float64), torch.randint(0, 10, (64,), generator=g)


def test_gce_tends_to_cross_entropy_as_q_goes_to_zero():
    logits, y = _batch()
    ce = F.cross_entropy(logits, y, reduction="none")
    gaps = [float((generalized_cross_entropy(logits, y, q, "none") - ce).abs().max())
            for q in (1e-1, 1e-2, 1e-3, 1e-5)]
    assert gaps == sorted(gaps, reverse=True)            # closer as q shrinks
    assert gaps[-1] < 1e-3 * float(ce.max())


def test_gce_at_q_one_is_mean_absolute_error_over_two():
    logits, y = _batch(1)
    p = torch.softmax(logits, 1)
    mae = (F.one_hot(y, 10) - p).abs().sum(1)            # ||e_y - p||_1 = 2 (1 - p_y)
    gce = generalized_cross_entropy(logits, y, 1.0, "none")
    assert torch.allclose(gce, 1 - p[torch.arange(64), y])
    assert torch.allclose(gce, mae / 2)
    assert torch.allclose(generalized_cross_entropy(logits, y, 0.999, "none"), gce, atol=1e-3)


def test_sce_equals_a_hand_computation():
    # logits (0, log 3): p = (1/4, 3/4). True class 1: CE = -log 3/4, RCE = -A * (1 - 3/4) = 1.
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])
    y = torch.tensor([1, 0])
    # second sample, true class 0: CE = -log 1/4, RCE = 4 * (1 - 1/4) = 3
    want = [0.1 * -math.log(0.75) + 1.0 * 1.0, 0.1 * -math.log(0.25) + 1.0 * 3.0]
    got = symmetric_cross_entropy(logits, y, alpha=0.1, beta=1.0, log_zero=-4.0, reduction="none")
    assert torch.allclose(got, torch.tensor(want))
    assert math.isclose(float(symmetric_cross_entropy(logits, y)), sum(want) / 2, rel_tol=1e-6)
    # RCE is bounded by -A and its sum over every possible label is constant: -A (C - 1)
    all_labels = sum(reverse_cross_entropy(logits[:1], torch.tensor([k])) for k in range(2))
    assert math.isclose(float(all_labels), 4.0, rel_tol=1e-6)


def test_losses_take_any_leading_shape_like_k_probes_at_once():
    logits, y = _batch(2)
    stacked = torch.stack([logits, logits.flip(0)]), torch.stack([y, y.flip(0)])
    for loss in (cross_entropy, generalized_cross_entropy, symmetric_cross_entropy):
        per = loss(*stacked, reduction="none")
        assert per.shape == (2, 64)
        assert torch.allclose(per[0], loss(logits, y, reduction="none"))
    assert torch.allclose(cross_entropy(logits, y), F.cross_entropy(logits, y))


def test_gce_is_finite_for_a_confidently_wrong_prediction():
    logits, y = torch.tensor([[200.0, -200.0]]), torch.tensor([1])
    loss = generalized_cross_entropy(logits.requires_grad_(), y, 0.7)
    loss.backward()
    assert math.isclose(loss.item(), 1 / 0.7, rel_tol=1e-6) and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("call,match", [
    (lambda l, y: generalized_cross_entropy(l, y, q=0.0), "q"),
    (lambda l, y: generalized_cross_entropy(l, y, q=1.5), "q"),
    (lambda l, y: symmetric_cross_entropy(l, y, alpha=0, beta=0), "alpha"),
    (lambda l, y: symmetric_cross_entropy(l, y, log_zero=0.0), "log_zero"),
    (lambda l, y: cross_entropy(l, y, reduction="sum"), "reduction"),
])
def test_bad_loss_parameters_are_named(call, match):
    with pytest.raises(ConfigError, match=match):
        call(*_batch())
