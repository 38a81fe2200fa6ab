import pytest

from monorobust.data import load_dataset, make_splits
from monorobust.evaluate import SCENARIOS, GridConfig, ProbeConfig, robustness


def _flat(x):
    return x.flatten(1)


@pytest.mark.parametrize("name", SCENARIOS.names())
def test_every_registered_scenario_runs_on_tiny_data(name):
    severities = {"label_noise": (0.3,), "few_shot": (2,), "corrupt": (2,), "gaussian_noise": (0.2,),
                  "uniform_noise": (0.2,)}.get(name, (0.0,) if name == "clean" else (1,))
    grid = GridConfig(scenarios={name: severities}, corruptions=("contrast",), shift_test_size=50)
    splits = make_splits(load_dataset("digits"), 0.2)
    rows = robustness(_flat, splits, "pixels", grid, ProbeConfig(steps=20, eval_every=10), seeds=(0,))
    assert len(rows) == 1 and rows[0]["scenario"] == name and 0 <= rows[0]["accuracy"] <= 1


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
