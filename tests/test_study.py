"""`monorobust study`: rows with every axis key, resume, the report's section (tiny smoke run)."""

import json
from types import SimpleNamespace

import pytest

from monorobust.cli import main
from monorobust.errors import ConfigError

AXES = ["--protocols", "val", "gce", "--n-per-class", "10", "0", "--noise-types", "symmetric",
        "pairflip", "--noise-rates", "0.4", "--quiet"]


@pytest.fixture(scope="module")
def studied(tmp_path_factory):
    """A smoke run (clean point only, 2 seeds) and one study over small axes."""
    out = tmp_path_factory.mktemp("study")
    assert main(["run", "--preset", "smoke", "--out", str(out), "--quiet", "--no-report",
                 "--set", "grid.scenarios={clean: [0]}"]) == 0
    assert main(["study", str(out), *AXES]) == 0
    return out


def _rows(out):
    return [json.loads(line) for line in (out / "study.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_study_writes_every_cell_with_every_axis_key_and_a_rerun_adds_nothing(studied, capsys):
    rows = _rows(studied)
    # 3 reps x 2 seeds x 2 protocols x 2 regimes x (clean, input noise, 2 label-noise types)
    assert len(rows) == 3 * 2 * 2 * 2 * 4
    for key in ("protocol", "n_per_class", "noise_type", "representation", "scenario",
                "severity", "seed", "accuracy", "realised_noise_rate", "l2"):
        assert all(key in r for r in rows), key
    assert {r["noise_type"] for r in rows} == {"none", "symmetric", "pairflip"}
    few = [r for r in rows if r["n_per_class"] == 10]
    assert {r["n_train"] for r in few} == {100}                  # 10 per class x 10 digits
    noisy = [r for r in rows if r["scenario"] == "label_noise"]
    assert all(r["realised_noise_rate"] == pytest.approx(0.4, abs=0.01) for r in noisy)
    # the clean full-data val probe is the run's own clean probe: same accuracy
    run = {(r["representation"], r["seed"]): r["accuracy"] for r in
           map(json.loads, (studied / "results.jsonl").read_text().splitlines())}
    for r in rows:
        if (r["protocol"], r["n_per_class"], r["scenario"]) == ("val", 0, "clean"):
            assert r["accuracy"] == pytest.approx(run[(r["representation"], r["seed"])])
    before = (studied / "study.jsonl").read_bytes()
    assert main(["study", str(studied), *AXES]) == 0
    assert "(0 new)" in capsys.readouterr().out
    assert (studied / "study.jsonl").read_bytes() == before


@pytest.mark.slow
def test_report_gains_the_study_section(studied):
    page = (studied / "report.html").read_text()
    assert "When do the claims hold?" in page
    assert "Holm" in page
    assert "cross-seed stability" in page.lower()


def test_bad_axes_are_refused_before_any_work(tmp_path):
    from monorobust.study import StudyConfig

    with pytest.raises(ConfigError, match="protocol"):
        StudyConfig(protocols=("nope",))
    with pytest.raises(ConfigError, match="label-noise type"):
        StudyConfig(noise_types=("nope",))
    assert main(["study", str(tmp_path), "--quiet"]) == 2          # not a run folder


@pytest.mark.parametrize("bad, message", [
    ({"noise_rates": (0.2, 1.5)}, "study.noise_rates must be < 1, got 1.5"),
    ({"noise_rates": (0.0,)}, "study.noise_rates must be > 0, got 0.0"),
    ({"noise_rates": (-0.2,)}, "study.noise_rates must be > 0"),
    ({"n_per_class": (-3,)}, "study.n_per_class must be >= 0, got -3"),
    ({"seeds": (-1,)}, "study.seeds must be >= 0, got -1")])
def test_each_listed_value_is_in_its_range(bad, message):
    from monorobust.study import StudyConfig

    with pytest.raises(ConfigError, match=message):
        StudyConfig(**bad)


def _unfinished_run(folder, epochs_done=1):
    """A smoke run's folder whose cl and ncl pretrainings stopped after ``epochs_done`` of 3."""
    import torch

    from monorobust.config import load_config
    from monorobust.rundir import RunDir
    from monorobust.train.checkpoint import checkpoint_path, save_checkpoint

    run = RunDir(folder)
    run.write_config(load_config("smoke", {"out": str(folder)}))
    for objective in ("cl", "ncl"):
        for seed in (0, 1):
            path = checkpoint_path(run.checkpoints(objective, seed), epochs_done)
            path.parent.mkdir(parents=True)
            save_checkpoint(path, {"model": {"w": torch.zeros(1)}}, {"epoch": epochs_done})
    return run


def test_an_unfinished_encoder_is_refused_before_any_work(tmp_path, capsys):
    run = _unfinished_run(tmp_path)
    assert main(["study", str(tmp_path), "--quiet", "--no-report", "--representations", "cl",
                 "--n-per-class", "10"]) == 2
    err = capsys.readouterr().err
    assert "the cl encoder of seed 0 has trained 1 of 3 epochs" in err
    assert "finish its pretraining first" in err and f"--out {tmp_path}" in err
    assert not (tmp_path / "study.jsonl").exists() and not run.study_features("cl", 0).exists()


def test_a_feature_cache_of_another_checkpoint_is_not_reused(tmp_path):
    """The cache records the checkpoint it came from (name and checksum)."""
    import torch
    from safetensors.torch import save

    from monorobust.config import load_config
    from monorobust.study import StudyConfig
    from monorobust.io import CACHE_CHECKSUM as CHECKSUM
    from monorobust.study.data import FEATURE_KEYS, StudyData
    from monorobust.train.checkpoint import save_checkpoint, tensor_checksum

    run = _unfinished_run(tmp_path, epochs_done=3)
    data = StudyData(run, load_config("smoke"), SimpleNamespace(num_classes=10),
                     StudyConfig(representations=("cl",)), "cpu")
    ckpt = data.checkpoints[("cl", 0)] = run.checkpoints("cl", 0) / "epoch-0003.safetensors"
    run.study_features("cl", 0).parent.mkdir(parents=True, exist_ok=True)
    cache = {k: torch.zeros(2, 2) for k in FEATURE_KEYS}
    meta = {**data._meta("cl", 0), CHECKSUM: tensor_checksum(cache)}
    run.study_features("cl", 0).write_bytes(save(cache, metadata=meta))
    assert data._load("cl", 0) is not None
    save_checkpoint(ckpt, {"model": {"w": torch.ones(1)}}, {"epoch": 3})   # another encoder
    assert data._load("cl", 0) is None


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_feature_cache_is_extracted_again_with_a_warning(damage, tmp_path):
    """A flipped byte in a cached feature was read as a feature value (safetensors checks no
    data), and a truncated cache was dropped without a word."""
    import torch
    from safetensors.torch import save

    from monorobust.config import load_config
    from monorobust.io import CACHE_CHECKSUM as CHECKSUM
    from monorobust.io import IntegrityWarning, tensor_checksum
    from monorobust.study import StudyConfig
    from monorobust.study.data import FEATURE_KEYS, StudyData

    run = _unfinished_run(tmp_path, epochs_done=3)
    data = StudyData(run, load_config("smoke"), SimpleNamespace(num_classes=10),
                     StudyConfig(representations=("cl",)), "cpu")
    data.checkpoints[("cl", 0)] = run.checkpoints("cl", 0) / "epoch-0003.safetensors"
    path = run.study_features("cl", 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    cache = {k: torch.arange(64.0).view(8, 8) for k in FEATURE_KEYS}
    path.write_bytes(save(cache, metadata={**data._meta("cl", 0), CHECKSUM: tensor_checksum(cache)}))
    assert torch.equal(data._load("cl", 0)["train"], cache["train"])
    raw = path.read_bytes()
    path.write_bytes(raw[:-40] if damage == "truncate" else raw[:-40] + b"\x7f" + raw[-39:])
    with pytest.warns(IntegrityWarning, match="feature cache .* is damaged"):
        assert data._load("cl", 0) is None


def test_an_sae_the_run_never_fitted_is_fitted_inside_the_extraction(tmp_path):
    """_extract runs under no_grad; cl+sae's fallback fit must still train."""
    import torch

    from monorobust.config import load_config
    from monorobust.evaluate import REPRESENTATIONS
    from monorobust.rundir import RunDir
    from monorobust.study import StudyConfig
    from monorobust.study.data import StudyData

    data = StudyData(RunDir(tmp_path), load_config("smoke", {"sae": {"epochs": 1}}),
                     SimpleNamespace(num_classes=10), StudyConfig(), "cpu")
    with torch.no_grad():
        fmap = data._posthoc(REPRESENTATIONS.get("cl+sae"), torch.randn(64, 16), seed=0)
    assert fmap(torch.randn(5, 16)).shape[0] == 5


def test_the_fix_named_for_an_unfinished_encoder_finishes_it(tmp_path, capsys):
    """A finished run whose last checkpoint was damaged and deleted (as its error says): the
    command the refusal names must bring the encoder back (it named `monorobust run`, which
    pretrains nothing once every row is written, so the user went round in a circle)."""
    import shlex

    from monorobust.rundir import RunDir

    assert main(["run", "--preset", "smoke", "--out", str(tmp_path), "--quiet", "--seeds", "0",
                 "--representations", "cl", "--set", "grid.scenarios={clean: [0]}",
                 "--set", "pretrain.epochs=2"]) == 0
    last = RunDir(tmp_path).checkpoints("cl", 0) / "epoch-0002.safetensors"
    last.unlink()
    study = ["study", str(tmp_path), "--quiet", "--no-report", "--representations", "cl",
             "--n-per-class", "10", "--protocols", "val", "--noise-types", "symmetric"]
    capsys.readouterr()
    assert main(study) == 2
    fix = capsys.readouterr().err.split("`")[1]
    assert main(shlex.split(fix)[1:]) == 0 and last.exists()
    assert main(study) == 0
