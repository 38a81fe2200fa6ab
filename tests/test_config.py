import pytest

from monorobust.cli import main


@pytest.mark.parametrize("args, message", [
    (["--set", "pretrain.bogus=1"], "unknown config key 'pretrain.bogus'"),
    (["--set", "grid.scenarios.label_noise=[0.5, 1.0]"], "label-noise rate 1.0"),
    (["--set", "grid.scenarios.label_noise=[0.95]"], "label-noise rate 0.95"),
    (["--set", "grid.scenarios.few_shot=[500]"], "k=500 exceeds"),
    (["--set", "pretrain.encoder=vgg"], "unknown encoder 'vgg'"),
    (["--dataset", "imagenet-9000"], "unknown dataset 'imagenet-9000'"),
    (["--data-dir", "/no/such/folder"], "does not exist"),
    (["--preset", "nope"], "unknown preset 'nope'"),
    (["--set", "data.data_dir=None"], "write null"),
    (["--set", "grid.scenarios.wobble=[1]"], "unknown scenario 'wobble'"),
    (["--set", "representations=[cl, xyz]"], "unknown representation 'xyz'"),
    (["--set", "pretrain.epochs=0"], "pretrain.epochs must be >= 1"),
    (["--devices", "2", "--strategy", "bogus"], "invalid strategy name"),
    pytest.param(["--device", "cuda"], "CUDAAccelerator", marks=pytest.mark.skipif(
        __import__("torch").cuda.is_available(), reason="this machine has CUDA")),
])
def test_bad_input_is_one_clear_line_before_any_work(args, message, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["run", "--preset", "smoke", "--out", str(out), "--quiet", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not out.exists()                                  # nothing written


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
