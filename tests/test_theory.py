"""Theory toy models: closed forms, label flips, superposition measured, determinism, errors."""

from __future__ import annotations

import json
import math

import pytest
import torch

from monorobust.errors import ConfigError
from monorobust.perturb.label_noise import symmetric_label_noise
from monorobust.theory import two_feature as tf
from monorobust.theory.crossover import describe, find_crossovers
from monorobust.theory.downstream import group_argmax_labels, robustness_sweep
from monorobust.theory.superposition import monosemanticity, train_toy_models
from monorobust.theory.superposition_part import SuperpositionConfig, run_superposition
from monorobust.theory.toy import ToyConfig, run_toy
from monorobust.theory.two_feature_sweep import TwoFeatureConfig, sweep_two_feature


@pytest.mark.parametrize("s", [0.0, 0.3, 0.8])
def test_two_feature_matches_closed_form(s: float) -> None:
    x, y = tf.sample(100_000, s, torch.Generator().manual_seed(1))
    cf = tf.closed_form(s)
    # Hand check of one case: S = 0 gives P(y=1) = 1/2, E[x1|y=1] = 2/3, E[x1-x2|y=1] = 1/3.
    if s == 0.0:
        assert (cf.p_y1, cf.mono_mean_y1, cf.poly_mean_y1) == pytest.approx((0.5, 2 / 3, 1 / 3))
    se = 0.5 / math.sqrt(len(y) * 0.1)  # generous bound on the standard error of a class mean
    assert float(y.double().mean()) == pytest.approx(cf.p_y1, abs=4 * 0.5 / math.sqrt(len(y)))
    for code, m1, m0 in (("mono", cf.mono_mean_y1, cf.mono_mean_y0),
                         ("poly", cf.poly_mean_y1, cf.poly_mean_y0)):
        z = tf.encode(x, code)
        assert float(z[y == 1].mean()) == pytest.approx(m1, abs=4 * se)
        assert float(z[y == 0].mean()) == pytest.approx(m0, abs=4 * se)
    # The best threshold on x1 found from data matches t* and A(t*); x1 - x2 separates exactly.
    st = tf.fit_stumps(tf.encode(x, "mono").unsqueeze(0), y.double().unsqueeze(0))
    acc = float(tf.stump_accuracy(st, tf.encode(x, "mono"), y)[0])
    assert acc == pytest.approx(cf.mono_best_accuracy, abs=0.01)
    st = tf.fit_stumps(tf.encode(x, "poly").unsqueeze(0), y.double().unsqueeze(0))
    assert float(tf.stump_accuracy(st, tf.encode(x, "poly"), y)[0]) == 1.0


def test_stumps_ties_and_directions() -> None:
    z = torch.tensor([[0.0, 0.0, 0.0, 1.0, 2.0], [3.0, 2.0, 1.0, 0.0, -1.0]], dtype=torch.float64)
    w1 = torch.tensor([[0, 0, 1, 1, 1], [0, 0, 1, 1, 1]], dtype=torch.float64)
    st = tf.fit_stumps(z, w1)
    # Row 0: ties at 0 cannot be split; best is z > 0.5 (4/5 right). Row 1: class 1 is low z.
    assert st.threshold.tolist() == [0.5, 1.5] and st.direction.tolist() == [1, -1]
    acc = tf.stump_accuracy(st, z[1], w1[1].long())
    assert acc.tolist() == [0.2, 1.0]


def test_auc_and_fisher_simple() -> None:
    z = torch.tensor([0.0, 1.0, 1.0, 2.0], dtype=torch.float64)
    w1 = torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64)
    assert tf.auc(z, w1) == pytest.approx((0.5 + 1 + 1 + 1) / 4)
    assert tf.fisher_ratio(z, w1) == pytest.approx(1.0 / (0.25 + 0.25))


@pytest.mark.parametrize("classes,rate", [(2, 0.3), (2, 0.45), (4, 0.7), (10, 0.85)])
def test_label_flips_exact_and_never_same(classes: int, rate: float) -> None:
    y = torch.arange(1001) % classes
    noisy = symmetric_label_noise(y, rate, classes, torch.Generator().manual_seed(0))
    changed = noisy.labels != y
    assert int(changed.sum()) == round(rate * 1001)
    assert torch.equal(changed, noisy.flipped)


def test_superposition_measured_and_downstream_flips() -> None:
    m = 20
    models = train_toy_models((0,), n_features=40, n_hidden=m, sparsity=0.9, steps=600,
                              batch_size=256)
    poly, mono = (monosemanticity(models[(0, c)].W) for c in ("poly", "mono"))
    assert poly.represented > m  # superposition, measured from the trained W
    # Seed 0 at this size; over seeds the W >= 0 code keeps 20-22 features (docs/toy.md).
    assert mono.represented <= m
    assert mono.mean_top_share > 0.7 > 0.3 > poly.mean_top_share
    res = robustness_sweep(models[(0, "mono")], 0, 0.9, 4, (0.0, 0.35, 0.7), (0.0, 0.5),
                           n_train=500, n_test=500, steps=30)
    assert res.realised_rates == [0.0, 175 / 500, 350 / 500]
    # Rate 0 and std 0 are the same clean classifier on the same clean test set; it beats
    # chance (1/4) by far, and every step of label or input noise costs accuracy.
    assert res.label_noise[0] == res.input_noise[0] > 0.45
    assert res.label_noise[0] > res.label_noise[1] > res.label_noise[2]
    assert res.input_noise[0] - res.input_noise[1] > 0.1


def test_group_labels() -> None:
    x = torch.zeros(3, 8)
    x[0, 5], x[1, 2], x[1, 6] = 1.0, 0.4, 0.5  # groups i mod 4: 5 -> 1; 2 and 6 -> 2
    assert group_argmax_labels(x, 4).tolist() == [1, 2, 0]


def test_determinism_from_seed() -> None:
    a = train_toy_models((3,), n_features=10, n_hidden=5, steps=20, batch_size=64)
    b = train_toy_models((3,), n_features=10, n_hidden=5, steps=20, batch_size=64)
    assert all(torch.equal(a[k].W, b[k].W) for k in a)
    cfg = TwoFeatureConfig(label_rates=(0.0, 0.3), noise_stds=(0.0, 0.5), n_train=(20,), repeats=5,
                           n_pop=4000)
    assert sweep_two_feature(cfg, seed=7) == sweep_two_feature(cfg, seed=7)


def test_crossovers() -> None:
    xs = [0.0, 1.0, 2.0, 3.0]
    found = find_crossovers(xs, [0.5, 0.6, 0.7, 0.8], [1.0, 0.8, 0.6, 0.4])
    assert len(found) == 1 and found[0].direction == "mono_overtakes"
    assert found[0].at == pytest.approx(1 + 0.2 / 0.3, abs=1e-6)
    assert find_crossovers(xs, [0.5] * 4, [0.9] * 4) == []


def test_crossing_without_standard_error_is_not_significant() -> None:
    xs, mono, poly = [0.0, 1.0, 2.0], [0.5, 0.6, 0.9], [0.9, 0.7, 0.5]
    assert find_crossovers(xs, mono, poly, se_diff=[0.01] * 3)[0].significant
    found = find_crossovers(xs, mono, poly, se_diff=None)  # e.g. one seed
    assert len(found) == 1 and not found[0].significant
    assert "not significant: one seed" in describe(found, "input noise", 0, 2, "one seed")


def test_superposition_crossing_over_three_seeds_needs_the_t_interval() -> None:
    """Over 3 seeds the paired difference has 2 degrees of freedom: a crossing is significant
    only outside 4.30 standard errors (95%), not 2 (an 82% interval)."""
    from monorobust.theory.superposition_part import _crossovers

    xs = [0.0, 1.0, 2.0]
    # mono - poly per seed: -0.10 +- 0.08 at 0 (2.2 s.e.), 0 at 1, +0.10 +- 0.08 at 2
    poly = [[0.5, 0.5, 0.5]] * 3
    mono = [[0.40 + e, 0.5, 0.60 + e] for e in (-0.08, 0.0, 0.08)]
    found, why = _crossovers(xs, mono, poly)
    assert len(found) == 1 and found[0].direction == "mono_overtakes"
    assert not found[0].significant and "4.30 s.e. over 3 seeds" in why
    clear = [[0.40 + e, 0.5, 0.60 + e] for e in (-0.01, 0.0, 0.01)]    # 17 s.e. either side
    assert _crossovers(xs, clear, poly)[0][0].significant
    assert not _crossovers(xs, mono[:1], poly[:1])[0][0].significant  # one seed


def test_a_cell_does_not_depend_on_the_other_cells_listed() -> None:
    model = train_toy_models((0,), n_features=8, n_hidden=4, steps=20, batch_size=64)[(0, "poly")]

    def sweep(rates, stds):
        return robustness_sweep(model, 0, 0.9, 4, rates, stds, n_train=200, n_test=200, steps=10)

    a, b = sweep((0.0, 0.3), (0.0, 0.5)), sweep((0.0, 0.1, 0.3, 0.6), (0.0, 0.2, 0.5))
    assert a.label_noise[1] == b.label_noise[2] and a.input_noise == b.input_noise[::2]
    one = TwoFeatureConfig(label_rates=(0.0, 0.3), noise_stds=(0.0, 0.5), n_train=(20,),
                           repeats=4, n_pop=2000)
    more = TwoFeatureConfig(label_rates=(0.0, 0.1, 0.3), noise_stds=(0.0, 0.2, 0.5),
                            n_train=(10, 20), repeats=4, n_pop=2000)
    ra, rb = sweep_two_feature(one), sweep_two_feature(more)
    for axis in ("label_noise", "input_noise"):  # rate 0.3 / std 0.5: index 1 in one, 2 in more
        for m, by_code in ra[axis]["curves"].items():
            for c, curve in by_code.items():
                other = rb[axis]["curves"][m][c]
                assert (curve["mean"][1], curve["se"][1]) == (other["mean"][2], other["se"][2])


def test_one_repeat_makes_no_erm_crossing_significant() -> None:
    res = sweep_two_feature(TwoFeatureConfig(label_rates=(0.0, 0.2, 0.4, 0.45), noise_stds=(0.0,),
                                             n_train=(20,), repeats=1, n_pop=2000))
    found = [c for by_other in res["label_noise"]["crossovers"]["erm_accuracy_n20"].values()
             for c in by_other]
    assert not any(c["significant"] for c in found)


def test_rate_zero_always_computed() -> None:
    cfg = TwoFeatureConfig(label_rates=(0.1, 0.3), noise_stds=(0.5,), n_train=(20,), repeats=4,
                           n_pop=2000)
    res = sweep_two_feature(cfg)
    assert res["label_noise"]["rates"] == [0.0, 0.1, 0.3]
    assert res["input_noise"]["stds"] == [0.0, 0.5]
    sp, _ = run_superposition(SuperpositionConfig(
        n_features=8, n_hidden=4, steps=20, batch_size=64, n_seeds=1, n_train=200,
        probe_steps=10, label_rates=(0.3,), noise_stds=(0.5,)))
    assert sp["label_noise"]["rates"] == [0.0, 0.3] and sp["input_noise"]["stds"] == [0.0, 0.5]
    clean = sp["label_noise"]["accuracy"]["poly"]["mean"][0]
    assert sp["input_noise"]["accuracy"]["poly"]["mean"][0] == clean
    assert f"clean accuracy poly {clean:.3f}" in sp["summary"][-1]


@pytest.mark.parametrize("cls, kw, key", [
    (TwoFeatureConfig, dict(sparsity=1.0), "two_feature.sparsity"),
    (SuperpositionConfig, dict(sparsity=-0.1), "superposition.sparsity"),
    (SuperpositionConfig, dict(label_rates=(0.75,)), "superposition.label_rates"),
    (TwoFeatureConfig, dict(label_rates=(0.5,)), "two_feature.label_rates"),
    (SuperpositionConfig, dict(noise_stds=(-0.1,)), "superposition.noise_stds"),
    (TwoFeatureConfig, dict(noise_stds=(-1.0,)), "two_feature.noise_stds"),
    (ToyConfig, dict(part="nope"), "--part")])
def test_bad_config_names_the_key(cls, kw: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        cls(**kw)


def test_cli_bad_input_fails_before_work(tmp_path, capsys) -> None:
    from monorobust.cli import main

    out = tmp_path / "toy"
    assert main(["toy", "--out", str(out), "--tf-sparsity", "1"]) == 2
    assert "tf-sparsity" in capsys.readouterr().err and not out.exists()


def test_run_toy_tiny(tmp_path) -> None:
    cfg = ToyConfig(superposition=SuperpositionConfig(
                        n_features=8, n_hidden=4, steps=20, batch_size=64, n_seeds=2, n_train=200,
                        probe_steps=10, label_rates=(0.0, 0.5), noise_stds=(0.0, 0.3)),
                    two_feature=TwoFeatureConfig(
                        label_rates=(0.0, 0.4), noise_stds=(0.0, 1.0), n_train=(20,), repeats=4,
                        n_pop=2000))
    res = run_toy(cfg, tmp_path, echo=False)
    saved = json.loads((tmp_path / "toy.json").read_text())
    assert set(saved) == {"superposition", "two_feature", "figures"}
    assert saved["figures"] == res["figures"] and len(saved["figures"]) == 4
    assert all((tmp_path / f).stat().st_size > 0 for f in saved["figures"])
    assert saved["two_feature"]["summary"] and saved["superposition"]["summary"]
