import pytest

from monorobust.data import load_dataset, make_splits
from monorobust.evaluate import SCENARIOS, GridConfig, ProbeConfig, robustness


def _flat(x):
    return x.flatten(1)


SEVERITY = {"label_noise": 0.5, "few_shot": 2, "corrupt": 3, "gaussian_noise": 0.3,
            "uniform_noise": 0.6, "clean": 0.0}
"""A severity per scenario strong enough to cost the 20-step probe accuracy (default: 1)."""
FLOOR = {"sketch": 0.0}
"""Out of domain, edge maps: a probe trained on pixels is near chance there (default: 0.3)."""


@pytest.mark.parametrize("name", [n for n in SCENARIOS.names() if not SCENARIOS.get(n).needs_data])
def test_every_registered_scenario_runs_on_tiny_data(name):
    severity = SEVERITY.get(name, 1)
    grid = GridConfig(scenarios={"clean": (0.0,), name: (severity,)}, corruptions=("contrast",),
                      shift_test_size=50)
    splits = make_splits(load_dataset("digits"), 0.2)
    rows = robustness(_flat, splits, "pixels", grid, ProbeConfig(steps=20, eval_every=10), seeds=(0,))
    by_name = {r["scenario"]: r for r in rows}
    assert len(rows) == len(by_name) == (1 if name == "clean" else 2)
    clean, row = by_name["clean"], by_name[name]
    assert clean["accuracy"] > 0.6                                # chance is 0.1
    assert row["severity"] == severity
    subset = SCENARIOS.get(name).test_subset(SCENARIOS.get(name).params(grid))
    assert row["n_test"] == (subset or len(splits.test))
    correct = row["accuracy"] * row["n_test"]                     # a share of the test images
    assert abs(correct - round(correct)) < 1e-6
    if name != "clean":
        assert FLOOR.get(name, 0.3) <= row["accuracy"] < clean["accuracy"]
    if name == "label_noise":
        assert row["realised_noise_rate"] == round(0.5 * row["n_train"]) / row["n_train"]
    if name == "few_shot":
        assert row["n_train"] == 2 * splits.num_classes


def test_probe_on_raw_pixels_learns_digits():
    grid = GridConfig(scenarios={"clean": (0.0,), "label_noise": (0.8,)})
    rows = robustness(_flat, "digits", "pixels", grid,
                      ProbeConfig(steps=300, lr=0.01, batch_size=256), seeds=(0,))
    acc = {r["scenario"]: r["accuracy"] for r in rows}
    assert acc["clean"] > 0.9
    assert acc["label_noise"] < acc["clean"]


@pytest.mark.parametrize("optimizer, lr", [("adamw", 0.01), ("sgd", 0.05), ("lars", 0.4)])
def test_probe_learns_digits_with_each_optimizer(optimizer, lr):
    grid = GridConfig(scenarios={"clean": (0.0,)})
    rows = robustness(lambda x: x.flatten(1), "digits", "pixels", grid,
                      ProbeConfig(optimizer=optimizer, steps=300, lr=lr, batch_size=256), seeds=(0,))
    assert rows[0]["accuracy"] > 0.9


def test_unknown_probe_optimizer_is_refused_naming_the_known_ones():
    from monorobust.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown optimizer 'adam'.*lars"):
        ProbeConfig(optimizer="adam")


def test_probe_separates_separable_clusters_and_is_at_chance_on_shuffled_labels():
    import torch

    from monorobust.evaluate import train_probe

    gen = torch.Generator().manual_seed(0)
    centers = torch.randn(5, 16, generator=gen) * 4
    y = torch.arange(1500) % 5
    x = centers[y] + torch.randn(1500, 16, generator=gen)
    cfg = ProbeConfig(steps=60, lr=0.05, batch_size=256, eval_every=20)
    probe = train_probe(x[:1000], y[:1000], x[1000:1200], y[1000:1200], 5, cfg, seed=0)
    assert probe.accuracy(x[1200:], y[1200:]) > 0.97
    assert probe.per_class_accuracy(x[1200:], y[1200:], 5) == pytest.approx([1.0] * 5, abs=0.05)
    shuffled = y[torch.randperm(1500, generator=gen)]            # labels unrelated to x
    chance = train_probe(x[:1000], shuffled[:1000], x[1000:1200], shuffled[1000:1200], 5, cfg, seed=0)
    assert abs(chance.accuracy(x[1200:], shuffled[1200:]) - 0.2) < 0.08


def test_probes_sharing_their_rows_train_together_as_if_alone_and_resume_alike():
    """The clean probe and the label-noise probes train in one loop: each row matches a probe
    trained alone on its labels (up to float rounding), and asking for part of the grid (a
    resumed run) gives those rows bit for bit."""
    import torch

    from monorobust.evaluate.api import encode_feature_set
    from monorobust.evaluate.grid import evaluate_features
    from monorobust.evaluate.probe import train_probe
    from monorobust.evaluate.testsets import iter_test_sets
    from monorobust.seeding import derive_seed

    grid = GridConfig(scenarios={"clean": (0.0,), "label_noise": (0.3, 0.6), "few_shot": (5,),
                                 "gaussian_noise": (0.3,)})
    probe = ProbeConfig(steps=60, eval_every=20, batch_size=256)
    splits = make_splits(load_dataset("digits"), 0.2)
    fs = encode_feature_set(_flat, splits, iter_test_sets(splits.test, grid, 0))
    rows = {(r.scenario, r.severity): r for r in evaluate_features("px", fs, grid, probe, 10, 0)}
    assert len(rows) == 5

    for rate in (0.3, 0.6):
        gen = torch.Generator().manual_seed(derive_seed(0, "label_noise", rate))
        ts = SCENARIOS.get("label_noise").train_set(fs.train_labels, fs.val_labels, rate, 10, gen)
        alone = train_probe(fs.train, ts.train_labels, fs.val, ts.val_labels, 10, probe, 0)
        row = rows[("label_noise", rate)]
        assert row.realised_noise_rate == ts.realised_noise_rate
        assert abs(row.accuracy - alone.accuracy(fs.test["clean"], fs.test_labels["clean"])) < 0.02
        assert abs(row.val_accuracy - alone.val_accuracy) < 0.02
    alone = train_probe(fs.train, fs.train_labels, fs.val, fs.val_labels, 10, probe, 0)
    assert abs(rows[("clean", 0.0)].accuracy
               - alone.accuracy(fs.test["clean"], fs.test_labels["clean"])) < 0.02

    skip = {("clean", 0.0), ("label_noise", 0.3)}
    rest = list(evaluate_features("px", fs, grid, probe, 10, 0, skip=skip))
    assert [(r.scenario, r.severity) for r in rest] == [p for p in rows if p not in skip]
    assert all(r == rows[(r.scenario, r.severity)] for r in rest)
