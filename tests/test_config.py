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
