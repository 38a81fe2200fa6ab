"""Label-noise types (symmetric, pairflip, instance), their registry, and data regimes."""

from __future__ import annotations

import pytest
import torch

from monorobust.errors import ConfigError
from monorobust.perturb import (
    LABEL_NOISE_TYPES, instance_label_noise, pairflip_label_noise, reference_probs, regime_indices,
)

C = 10


def _labels(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, C, (n,), generator=torch.Generator().manual_seed(seed))


def _probs(labels: torch.Tensor, seed: int = 2) -> torch.Tensor:
    """Random reference probabilities (rows sum to 1)."""
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(3 * torch.randn(len(labels), C, generator=g), 1)


# --- pair-flip --------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [0.0, 0.1, 0.37, 0.49])
def test_pairflip_changes_exactly_round_rate_n_labels_only_to_the_next_class(rate, gen):
    labels = _labels(1003)
    noisy = pairflip_label_noise(labels, rate, C, gen)
    changed = noisy.labels != labels
    assert int(changed.sum()) == round(rate * 1003)
    assert torch.equal(changed, noisy.flipped)
    assert noisy.realised_rate == round(rate * 1003) / 1003
    assert torch.equal(noisy.labels[changed], (labels[changed] + 1) % C)


@pytest.mark.parametrize("mapping", [[3, 0, 1, 2, 5, 4, 7, 6, 9, 8], {0: 3, 1: 0, 2: 1, 3: 2}])
def test_pairflip_follows_a_user_mapping(mapping, gen):
    labels = _labels(2000)
    noisy = pairflip_label_noise(labels, 0.4, C, gen, mapping=mapping)
    target = torch.tensor([3, 0, 1, 2, 5, 4, 7, 6, 9, 8])
    if isinstance(mapping, dict):                       # classes the dict omits keep i+1 mod C
        target[4:] = (torch.arange(4, C) + 1) % C
    changed = noisy.labels != labels
    assert int(changed.sum()) == 800
    assert torch.equal(noisy.labels[changed], target[labels[changed]])
    # every class that occurs among the flipped samples reaches only its own target
    for c in labels[changed].unique():
        assert set(noisy.labels[changed & (labels == c)].tolist()) == {int(target[c])}


@pytest.mark.parametrize("mapping,match", [([0] + list(range(0, 9)), "to itself"),
                                          ([1, 2, 3], "one target class per class"),
                                          ([1] * 9 + [10], "mapping")])
def test_pairflip_rejects_bad_mappings_naming_them(mapping, match, gen):
    with pytest.raises(ConfigError, match=match):
        pairflip_label_noise(_labels(50), 0.2, C, gen, mapping=mapping)


@pytest.mark.parametrize("rate", [0.5, 0.9, -0.1, float("nan")])
def test_single_target_noise_refuses_rates_at_or_above_one_half(rate, gen):
    with pytest.raises(ConfigError, match="rate"):
        pairflip_label_noise(_labels(50), rate, C, gen)
    with pytest.raises(ConfigError, match="rate"):
        instance_label_noise(_labels(50), rate, C, gen, _probs(_labels(50)))


def test_pairflip_names_bad_labels(gen):
    with pytest.raises(ConfigError, match="labels contains label 10"):
        pairflip_label_noise(torch.tensor([0, 10]), 0.2, C, gen)


# --- instance-dependent -----------------------------------------------------------------------

@pytest.mark.parametrize("rate", [0.0, 0.05, 0.2, 0.33, 0.45])
def test_instance_noise_hits_the_realised_rate_exactly_towards_the_most_confusable_class(rate, gen):
    labels = _labels(997)
    probs = _probs(labels)
    noisy = instance_label_noise(labels, rate, C, gen, probs)
    changed = noisy.labels != labels
    assert int(changed.sum()) == round(rate * 997)
    assert torch.equal(changed, noisy.flipped)
    others = probs.clone()
    others[torch.arange(997), labels] = -1
    assert torch.equal(noisy.labels[changed], others.argmax(1)[changed])
    # the flipped samples are those with the highest wrong-class probability (Chen et al.)
    score = others.max(1).values
    if changed.any() and (~changed).any():
        assert score[changed].min() >= score[~changed].max()


def test_instance_noise_flips_samples_near_the_boundary_more_than_easy_ones(gen):
    """Two Gaussian classes on a line: the reference classifier finds points near 0 hardest."""
    g = torch.Generator().manual_seed(3)
    labels = torch.arange(2000) % 2
    x = (2 * labels.float() - 1)[:, None] * 1.5 + torch.randn(2000, 1, generator=g)
    probs = reference_probs(x, labels, 2, g, epochs=5)
    noisy = instance_label_noise(labels, 0.2, 2, gen, probs)
    margin = (2 * labels.float() - 1) * x[:, 0]         # distance past the boundary, signed
    hard = margin < margin.quantile(0.25)
    easy = margin > margin.quantile(0.75)
    assert noisy.realised_rate == 0.2
    assert noisy.flipped[hard].float().mean() > 0.6     # hard quarter: mostly flipped
    assert noisy.flipped[easy].float().mean() == 0.0    # easy quarter: never


def test_instance_noise_breaks_ties_by_the_generator_only():
    labels = torch.arange(100) % C
    probs = torch.full((100, C), 1.0 / C)               # every sample equally hard
    a = instance_label_noise(labels, 0.3, C, torch.Generator().manual_seed(5), probs)
    b = instance_label_noise(labels, 0.3, C, torch.Generator().manual_seed(5), probs)
    c = instance_label_noise(labels, 0.3, C, torch.Generator().manual_seed(6), probs)
    assert torch.equal(a.labels, b.labels) and not torch.equal(a.flipped, c.flipped)
    assert a.realised_rate == 0.3


def test_instance_noise_names_bad_probs(gen):
    labels = _labels(20)
    with pytest.raises(ConfigError, match="probs must be the reference"):
        instance_label_noise(labels, 0.2, C, gen, torch.rand(19, C))
    with pytest.raises(ConfigError, match="probs must be probabilities"):
        instance_label_noise(labels, 0.2, C, gen, -torch.rand(20, C))
    with pytest.raises(ConfigError, match="needs probs"):
        LABEL_NOISE_TYPES.get("instance").apply(labels, 0.2, C, gen)


def test_reference_probs_are_probabilities_and_reproducible():
    x, labels = torch.randn(300, 4), _labels(300)
    a = reference_probs(x, labels, C, torch.Generator().manual_seed(0), epochs=2)
    b = reference_probs(x, labels, C, torch.Generator().manual_seed(0), epochs=2)
    assert a.shape == (300, C) and torch.equal(a, b)
    assert torch.allclose(a.sum(1), torch.ones(300), atol=1e-5)
    # held-out samples scored by the same trajectory: the training rows give the same numbers
    held = reference_probs(x, labels, C, torch.Generator().manual_seed(0), epochs=2,
                           score_features=x[:50])
    assert held.shape == (50, C) and torch.allclose(held, a[:50], atol=1e-6)
    with pytest.raises(ConfigError, match="score_features has 3 features"):
        reference_probs(x, labels, C, torch.Generator(), epochs=1, score_features=x[:, :3])


# --- the registry -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", LABEL_NOISE_TYPES.names())
def test_noise_type_facts_and_exact_rate(name):
    kind = LABEL_NOISE_TYPES.get(name)
    assert kind.name == name and kind.title and kind.description and kind.reference
    assert 0 < kind.max_rate(C) <= (C - 1) / C
    labels = _labels(501)
    rate = 0.4
    kind.check(rate, C)
    torch.manual_seed(11)
    before = torch.rand(1)
    torch.manual_seed(11)
    noisy = kind.apply(labels, rate, C, torch.Generator().manual_seed(0), probs=_probs(labels))
    assert torch.equal(before, torch.rand(1))           # the global RNG is left alone
    again = kind.apply(labels, rate, C, torch.Generator().manual_seed(0), probs=_probs(labels))
    assert torch.equal(noisy.labels, again.labels)
    assert noisy.realised_rate == round(rate * 501) / 501
    assert torch.equal(noisy.labels != labels, noisy.flipped)   # a flip never keeps the label
    with pytest.raises(ConfigError, match="rate"):
        kind.check(kind.max_rate(C), C)


def test_unknown_noise_type_lists_the_known():
    with pytest.raises(ConfigError, match="instance, pairflip, symmetric"):
        LABEL_NOISE_TYPES.get("asymmetric")


# --- data regimes -----------------------------------------------------------------------------

def test_regime_draws_n_per_class_per_seed_and_none_means_all():
    labels = torch.arange(300) % C
    a = regime_indices(labels, 7, C, torch.Generator().manual_seed(0))
    b = regime_indices(labels, 7, C, torch.Generator().manual_seed(1))
    assert torch.equal(torch.bincount(labels[a], minlength=C), torch.full((C,), 7))
    assert len(a.unique()) == 70 and not torch.equal(a, b)
    assert torch.equal(regime_indices(labels, None, C, torch.Generator()), torch.arange(300))


@pytest.mark.parametrize("n", [0, 31, 2.5, True])
def test_regime_names_a_bad_n(n):
    with pytest.raises(ConfigError, match="n_per_class"):
        regime_indices(torch.arange(300) % C, n, C, torch.Generator())
