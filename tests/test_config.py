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


def test_a_range_on_a_tuples_item_type_checks_every_item():
    """``tuple[Annotated[X, RANGE], ...]`` (optional or not) is checked item by item, like
    ``Annotated[tuple[X, ...], RANGE]``, in the constructor and under the dotted key."""
    from dataclasses import dataclass
    from typing import Annotated, ClassVar

    from monorobust.errors import ConfigError
    from monorobust.fields import POSITIVE, build_dataclass, check_fields

    @dataclass(frozen=True)
    class Widths:
        SECTION: ClassVar[str] = "widths"
        sizes: tuple[Annotated[float, POSITIVE], ...] | None = None

        def __post_init__(self) -> None:
            check_fields(self)

    assert Widths((1.0, 2.5)).sizes == (1.0, 2.5) and Widths().sizes is None
    with pytest.raises(ConfigError, match=r"widths.sizes must be > 0, got -1"):
        Widths((1.0, -1.0))
    with pytest.raises(ConfigError, match=r"model.widths.sizes must be a finite number"):
        build_dataclass(Widths, {"sizes": [float("nan")]}, "model.widths")


@pytest.mark.parametrize("command", ["pretrain", "finetune"])
def test_commands_that_evaluate_no_representation_do_not_take_the_flag(command, capsys):
    """``--representations`` would only be written into config.yaml there: it is refused."""
    with pytest.raises(SystemExit) as exit_:
        main([command, "--preset", "smoke", "--representations", "cl"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --representations" in capsys.readouterr().err


@pytest.mark.parametrize("text, value", [("3e-4", 3e-4), ("1e3", 1e3), ("1.0e30", 1e30),
                                         ("2E-1", 0.2)])
def test_a_float_written_without_a_dot_or_exponent_sign_is_a_float(text, value):
    """PyYAML reads ``3e-4`` as a string; a float field takes it as the number it is, from
    ``--set`` and from a preset file alike (``--set finetune.lr=3e-4`` is the README's example)."""
    import yaml

    from monorobust.config import RunConfig
    from monorobust.fields import build_dataclass
    from monorobust.flags import parse_sets

    from_set = build_dataclass(RunConfig, {"pretrain": {"lr": parse_sets([f"lr={text}"])["lr"]}})
    from_file = build_dataclass(RunConfig, yaml.safe_load(f"pretrain:\n  lr: {text}\n"))
    assert from_set.pretrain.lr == from_file.pretrain.lr == value


@pytest.mark.parametrize("text, message", [("nan", "pretrain.lr must be a finite number"),
                                           ("inf", "pretrain.lr must be a finite number"),
                                           ("fast", "pretrain.lr must be float, got 'fast'")])
def test_a_float_field_still_refuses_nan_inf_and_words(text, message):
    from monorobust.config import RunConfig
    from monorobust.errors import ConfigError
    from monorobust.fields import build_dataclass
    from monorobust.flags import parse_sets

    with pytest.raises(ConfigError, match=message):
        build_dataclass(RunConfig, {"pretrain": {"lr": parse_sets([f"lr={text}"])["lr"]}})


def test_a_bad_value_in_a_preset_file_names_the_file_and_one_from_set_does_not(tmp_path):
    """The file is where to fix a value it holds; a value given by --set is fixed on the
    command line (the file's own bad value, overridden, is no error)."""
    from monorobust.config import load_config
    from monorobust.errors import ConfigError

    path = tmp_path / "mine.yaml"
    path.write_text("pretrain:\n  lr: fast\n")
    with pytest.raises(ConfigError, match=rf"^{path}: pretrain.lr must be float, got 'fast'$"):
        load_config(str(path))
    with pytest.raises(ConfigError, match=r"^pretrain.epochs must be >= 1, got 0$"):
        load_config(str(path), {"pretrain.lr": 0.1, "pretrain.epochs": 0})
    assert load_config(str(path), {"pretrain.lr": 0.1}).pretrain.lr == 0.1
    with pytest.raises(ConfigError, match=r"^pretrain.lr must be float, got 'fast'$"):
        load_config("smoke", {"pretrain.lr": "fast"})


def test_a_compile_mode_torch_does_not_have_is_refused_before_any_work():
    from monorobust.errors import ConfigError
    from monorobust.train import PretrainConfig

    graphs = PretrainConfig(compile=True, compile_mode="reduce-overhead")
    assert graphs.compile_mode == "reduce-overhead"
    with pytest.raises(ConfigError, match="pretrain.compile_mode 'fast' must be one of default, "
                                          "reduce-overhead"):
        PretrainConfig(compile=True, compile_mode="fast")
