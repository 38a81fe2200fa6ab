import pytest

from monorobust.cli import main


def test_every_subcommand_has_help(capsys):
    from monorobust.cli import COMMANDS

    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: monorobust " + name in capsys.readouterr().out


CLASSES = {"digits": 10, "fashion-mnist": 10, "cifar10": 10, "cifar100": 100, "imagenet100": 100}


@pytest.mark.parametrize("preset", ["quick", "smoke", "cifar10", "cifar100", "imagenet100",
                                    "fmnist-resnet18"])
def test_every_preset_grid_is_valid_for_its_dataset(preset):
    """A shipped preset must pass the checks a run makes before any work (e.g. label-noise
    rates below (C-1)/C for its dataset's C classes)."""
    from monorobust.config import load_config
    from monorobust.evaluate.scenarios import SCENARIOS

    cfg = load_config(preset)
    for name, severities in cfg.grid.scenarios.items():
        SCENARIOS.get(name).check(tuple(severities), CLASSES[cfg.data.name], 100)
