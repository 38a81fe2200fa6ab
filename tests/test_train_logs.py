"""Per-step pretraining curves: CSV rows through Fabric's CSVLogger, resume appends, errors."""

import importlib.util
import math

import pytest

from monorobust.data import load_dataset
from monorobust.errors import ConfigError
from monorobust.train import PretrainConfig, pretrain
from monorobust.train.augment import AugmentConfig
from monorobust.train.logs import read_curve

CFG = PretrainConfig(encoder="mlp", width=32, proj_hidden=32, proj_dim=16, epochs=3,
                     batch_size=128, lr=2e-3, warmup_epochs=1,
                     augment=AugmentConfig(crop_scale=(0.5, 1.0), flip_p=0.0, blur_p=0.0))
STEPS = 600 // 128                                    # optimiser steps per epoch


def _images():
    return load_dataset("digits").train.images[:600]


def test_pretraining_writes_one_finite_row_per_step(tmp_path):
    result = pretrain(_images(), CFG, "cl", seed=0, out_dir=tmp_path, progress=False)
    curve = read_curve(tmp_path)
    assert (tmp_path / "logs" / "version_0" / "metrics.csv").is_file()
    pretrain(_images(), CFG, "cl", seed=0, out_dir=tmp_path, progress=False)   # all done already
    assert not (tmp_path / "logs" / "version_1").exists()
    assert curve["step"].tolist() == list(range(3 * STEPS))
    assert curve["epoch"].tolist() == [e for e in range(3) for _ in range(STEPS)]
    assert all(math.isfinite(v) for v in curve["loss"]) and (curve["images_per_second"] > 0).all()
    assert curve["lr"].iloc[0] < curve["lr"].iloc[STEPS]          # warmup, then cosine decay
    assert curve["lr"].iloc[-1] < curve["lr"].iloc[STEPS]
    # The per-epoch mean of the logged steps is the epoch loss the checkpoint records.
    means = curve.groupby("epoch")["loss"].mean().tolist()
    assert means == pytest.approx(result.losses, rel=1e-5)


def test_a_resumed_pretraining_appends_to_the_same_csv(tmp_path):
    try:
        pretrain(_images(), CFG, "ncl", seed=1, out_dir=tmp_path, progress=False,
                 stop_after_steps=STEPS + 2)                 # crash inside the second epoch
    except InterruptedError:
        pass
    assert read_curve(tmp_path)["step"].tolist() == list(range(STEPS))   # completed epochs only
    pretrain(_images(), CFG, "ncl", seed=1, out_dir=tmp_path, progress=False)
    assert (tmp_path / "logs" / "version_1" / "metrics.csv").is_file()    # a new version
    curve = read_curve(tmp_path)
    assert curve["step"].tolist() == list(range(3 * STEPS))


def test_unknown_or_missing_logger_is_a_config_error():
    with pytest.raises(ConfigError, match="pretrain.logger must be one of csv, tensorboard"):
        PretrainConfig(logger="wandb")
    if importlib.util.find_spec("tensorboard") is None and importlib.util.find_spec("tensorboardX") is None:
        with pytest.raises(ConfigError, match="pip install tensorboard"):
            PretrainConfig(logger="tensorboard")
    else:
        PretrainConfig(logger="tensorboard")


def test_report_has_a_training_section_with_the_curves(tmp_path):
    from monorobust.cli import main
    from monorobust.report.build import write_report

    import yaml

    from monorobust.config import preset_path

    preset = yaml.safe_load(preset_path("smoke").read_text())
    preset["grid"] = {"scenarios": {"clean": [0]}}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(preset))
    out = str(tmp_path / "run")
    assert main(["run", "--preset", str(tmp_path / "tiny.yaml"), "--out", out, "--seeds", "0",
                 "--quiet", "--representations", "cl", "ncl", "--no-report"]) == 0
    paths = write_report(out)
    page = paths.html.read_text()
    assert '<section id="training">' in page and "Training" in page
    assert {"training.png", "training.svg"} <= {p.name for p in paths.figures}
    assert "checkpoints/cl-seed0/logs" not in page          # both curves found, none missing
    assert "ncl" in page
