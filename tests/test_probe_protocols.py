"""Batched probes and the probe protocols, parametrised over the protocol registry."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from monorobust.errors import ConfigError
from monorobust.evaluate import ProbeConfig, train_probe
from monorobust.evaluate.batched import Converge, train_probes
from monorobust.evaluate.protocols import PROTOCOLS
from monorobust.evaluate.protocols.tuned_l2 import GRID
from monorobust.objectives import generalized_cross_entropy, symmetric_cross_entropy

C, D = 4, 12


def _problem(n: int = 600, seed: int = 0, k: int = 3):
    """Gaussian classes in D dims (class c shifts dim c), K label vectors (0%, 20%, 40% noise)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % C
    x = torch.randn(n, D, generator=g) + 2.5 * torch.nn.functional.one_hot(y, D).float()
    ys = y.repeat(k, 1)
    for i in range(1, k):
        m = torch.rand(n, generator=g) < 0.2 * i
        ys[i, m] = (ys[i, m] + 1) % C
    return x, y, ys


def _split(x, ys, n_val=150):
    return x[n_val:], ys[:, n_val:], x[:n_val], ys[:, :n_val]


CFG = ProbeConfig(steps=60, batch_size=64, lr=0.05, eval_every=10)


# --- batched probes ---------------------------------------------------------------------------

@pytest.mark.parametrize("cfg", [CFG, ProbeConfig(steps=40, batch_size=100, optimizer="sgd", lr=0.1,
                                                  weight_decay=1e-3, select="last"),
                                 ProbeConfig(steps=40, batch_size=128, optimizer="lars", lr=0.4,
                                             select="last")],
                         ids=["adamw-val", "sgd-last", "lars-last"])
def test_batched_probes_equal_one_at_a_time(cfg):
    x, _, ys = _problem()
    tx, tys, vx, vys = _split(x, ys)
    l2 = [0.0, 1e-3, 1e-2]
    batched = train_probes(tx, tys, vx, vys, C, cfg, seed=5, l2=l2)
    for k, b in enumerate(batched):
        a = train_probe(tx, tys[k], vx, vys[k], C, cfg, seed=5, l2=l2[k])
        assert torch.allclose(a.weight, b.weight, atol=1e-5) and torch.allclose(a.bias, b.bias, atol=1e-5)
        assert (a.best_step, a.val_accuracy, a.train_accuracy) == (b.best_step, b.val_accuracy, b.train_accuracy)



@pytest.mark.parametrize("select", ["val", "last"])
def test_a_diverged_probe_is_an_error_not_a_chance_accuracy(select):
    """LARS at lr 1e30 turns the weights NaN; such a probe predicts class 0 everywhere, and its
    ~1/C accuracy was kept as a result, one probe or many at once."""
    x, _, ys = _problem()
    tx, tys, vx, vys = _split(x, ys)
    cfg = ProbeConfig(steps=40, batch_size=128, optimizer="lars", lr=1e30, select=select)
    message = r"the linear probe diverged: its weights are NaN or inf \(probe.optimizer lars"
    with pytest.raises(ConfigError, match=message):
        train_probe(tx, tys[0], vx, vys[0], C, cfg, seed=5)
    with pytest.raises(ConfigError, match=message):
        train_probes(tx, tys, vx, vys, C, cfg, seed=5)

@pytest.mark.parametrize("loss", [partial(generalized_cross_entropy, q=0.7), symmetric_cross_entropy])
def test_batched_probes_equal_one_at_a_time_with_a_robust_loss(loss):
    x, _, ys = _problem(seed=1)
    tx, tys, vx, vys = _split(x, ys)
    batched = train_probes(tx, tys, vx, vys, C, CFG, seed=2, loss_fn=loss)
    for k, b in enumerate(batched):
        a = train_probe(tx, tys[k], vx, vys[k], C, CFG, seed=2, loss_fn=loss)
        assert torch.allclose(a.weight, b.weight, atol=1e-5) and a.best_step == b.best_step


def test_converged_training_stops_per_probe_as_if_alone():
    x, _, ys = _problem(seed=2)
    tx, tys, vx, vys = _split(x, ys)
    rule = Converge(tol=1e-3, min_steps=30, max_steps=2000)
    together = train_probes(tx, tys, vx, vys, C, CFG, seed=0, until_converged=rule)
    for k, b in enumerate(together):
        a = train_probes(tx, tys[k], vx, vys[k], C, CFG, seed=0, until_converged=rule)[0]
        assert a.best_step == b.best_step and 30 <= b.best_step < 2000
        assert torch.allclose(a.weight, b.weight, atol=1e-5)


def test_batched_probes_name_mismatched_inputs():
    x, _, ys = _problem()
    tx, tys, vx, vys = _split(x, ys)
    with pytest.raises(ConfigError, match="val_y holds 2 label vectors for 3 probes"):
        train_probes(tx, tys, vx, vys[:2], C, CFG, seed=0)
    with pytest.raises(ConfigError, match="val_x has 5 features"):
        train_probes(tx, tys, vx[:, :5], vys, C, CFG, seed=0)
    with pytest.raises(ConfigError, match="l2"):
        train_probes(tx, tys, vx, vys, C, CFG, seed=0, l2=-1.0)
    with pytest.raises(ConfigError, match="train_y"):
        train_probes(tx, tys[:, :-1], vx, vys, C, CFG, seed=0)


# --- protocols --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", PROTOCOLS.names())
def test_protocol_declares_its_facts_and_learns(name):
    proto = PROTOCOLS.get(name)
    assert proto.name == name and proto.description and proto.loss and proto.selection
    assert proto.preprocessing and isinstance(proto.uses_validation, bool)
    x, y, ys = _problem(n=800, seed=3)
    tx, tys, vx, vys = _split(x, ys)
    test_x, test_y, _ = _problem(n=400, seed=4)
    fit = proto.fit(tx, tys, vx, vys, C, CFG, seed=0)
    assert len(fit.probes) == 3 and len(fit.l2) == 3
    for p in fit.probes:
        assert p.weight.shape == (C, D) and torch.isfinite(p.weight).all()
        assert p.accuracy(test_x, test_y) > 0.6            # chance is 0.25
    assert fit.probes[0].accuracy(test_x, test_y) > 0.85   # clean labels
    one = proto.fit(tx, tys[0], vx, vys[0], C, CFG, seed=0)  # a single label vector works too
    assert len(one.probes) == 1


def test_the_registry_holds_the_seven_protocols():
    assert PROTOCOLS.names() == sorted(["val", "fixed", "standardised", "tuned-l2", "converged",
                                        "gce", "sce"])
    with pytest.raises(ConfigError, match="unknown probe protocol 'l1'"):
        PROTOCOLS.get("l1")


def test_val_and_fixed_are_the_probe_with_its_selection():
    x, _, ys = _problem(seed=5)
    tx, tys, vx, vys = _split(x, ys)
    for name, select in (("val", "val"), ("fixed", "last")):
        fit = PROTOCOLS.get(name).fit(tx, tys, vx, vys, C, CFG, seed=1)
        cfg = ProbeConfig(**{**CFG.__dict__, "select": select})
        alone = train_probe(tx, tys[2], vx, vys[2], C, cfg, seed=1)
        assert torch.allclose(fit.probes[2].weight, alone.weight, atol=1e-5)
        assert fit.probes[2].best_step == alone.best_step
    assert PROTOCOLS.get("fixed").fit(tx, tys, vx, vys, C, CFG, 1).probes[0].best_step == CFG.steps


def test_standardised_probe_gives_the_same_accuracy_when_features_are_scaled_by_100():
    x, _, ys = _problem(seed=6)
    x = x * torch.linspace(0.01, 10, D)                   # badly scaled dimensions
    tx, tys, vx, vys = _split(x, ys)
    test_x, test_y, _ = _problem(n=400, seed=7)
    test_x = test_x * torch.linspace(0.01, 10, D)
    proto = PROTOCOLS.get("standardised")
    base = proto.fit(tx, tys, vx, vys, C, CFG, seed=0).probes
    scaled = proto.fit(100 * tx, tys, 100 * vx, vys, C, CFG, seed=0).probes
    for a, b in zip(base, scaled):
        assert a.accuracy(test_x, test_y) == b.accuracy(100 * test_x, test_y)
        assert a.val_accuracy == b.val_accuracy
    # the fixed probe on raw features is not scale-free: the same change moves it
    fixed = PROTOCOLS.get("fixed")
    raw = [p.accuracy(test_x, test_y) for p in fixed.fit(tx, tys, vx, vys, C, CFG, 0).probes]
    raw100 = [p.accuracy(100 * test_x, test_y) for p in fixed.fit(100 * tx, tys, 100 * vx, vys, C, CFG, 0).probes]
    assert raw != raw100


def test_standardised_probe_scores_raw_features_as_its_z_scored_training_saw_them():
    from monorobust.evaluate.protocols.standardised import zscore_stats

    x, _, ys = _problem(seed=8)
    x = 3 * x + 5
    tx, tys, vx, vys = _split(x, ys)
    fit = PROTOCOLS.get("standardised").fit(tx, tys, vx, vys, C, CFG, seed=0)
    mu, sigma = zscore_stats(tx)
    zt, zv = (((v.double() - mu) / sigma).float() for v in (tx, vx))
    zprobe = train_probes(zt, tys, zv, vys, C, ProbeConfig(**{**CFG.__dict__, "select": "last"}), 0)
    for p, q in zip(fit.probes, zprobe):
        assert torch.allclose(p.logits(vx), q.logits(zv), atol=1e-4)


def test_tuned_l2_chooses_the_strength_validation_prefers_and_equals_it_trained_alone():
    x, _, ys = _problem(n=300, seed=9)
    tx, tys, vx, vys = _split(x, ys, n_val=100)
    fit = PROTOCOLS.get("tuned-l2").fit(tx, tys, vx, vys, C, CFG, seed=3)
    last = ProbeConfig(**{**CFG.__dict__, "select": "last"})
    for k, (probe, l2) in enumerate(zip(fit.probes, fit.l2)):
        assert l2 in GRID
        accs = [train_probe(tx, tys[k], vx, vys[k], C, last, 3, l2=s).val_accuracy for s in GRID]
        assert probe.val_accuracy == max(accs) and l2 == GRID[accs.index(max(accs))]
        alone = train_probe(tx, tys[k], vx, vys[k], C, last, 3, l2=l2)
        assert torch.allclose(probe.weight, alone.weight, atol=1e-5)


def test_robust_loss_protocols_train_with_their_loss_on_the_fixed_schedule():
    x, _, ys = _problem(seed=10)
    tx, tys, vx, vys = _split(x, ys)
    last = ProbeConfig(**{**CFG.__dict__, "select": "last"})
    for name, loss in (("gce", partial(generalized_cross_entropy, q=0.7)),
                       ("sce", partial(symmetric_cross_entropy, alpha=0.1, beta=1.0, log_zero=-4.0))):
        fit = PROTOCOLS.get(name).fit(tx, tys, vx, vys, C, CFG, seed=4)
        alone = train_probe(tx, tys[1], vx, vys[1], C, last, 4, loss_fn=loss)
        assert torch.allclose(fit.probes[1].weight, alone.weight, atol=1e-5)


def test_converged_memorises_noisy_labels_at_least_as_much_as_the_fixed_schedule():
    """Few samples in many dimensions with 40% noise: running on fits more of the noise."""
    g = torch.Generator().manual_seed(11)
    n, d = 120, 60
    y = torch.arange(n) % C
    x = torch.randn(n, d, generator=g) + torch.nn.functional.one_hot(y, d).float()
    noisy = y.clone()
    m = torch.rand(n, generator=g) < 0.4
    noisy[m] = (noisy[m] + 1) % C
    cfg = ProbeConfig(steps=30, batch_size=32, lr=0.01, eval_every=10)
    fixed = PROTOCOLS.get("fixed").fit(x, noisy, x, noisy, C, cfg, 0).probes[0]
    conv = PROTOCOLS.get("converged").fit(x, noisy, x, noisy, C, cfg, 0).probes[0]
    assert conv.best_step > cfg.steps
    assert conv.train_accuracy > fixed.train_accuracy
