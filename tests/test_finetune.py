"""Monosemantic fine-tuning: the head's inputs, epoch selection on validation, the run folder."""

import json
from dataclasses import replace

import pytest
import torch

from monorobust.config import load_config
from monorobust.errors import ConfigError
from monorobust.finetune import FinetuneConfig, FinetuneModel, finetune, run_finetune
from monorobust.train import PretrainConfig, build_model

TINY = PretrainConfig(encoder="mlp", width=32, proj_hidden=32, proj_dim=16, epochs=1, batch_size=64)



def tiny_encoder(seed=0):
    return build_model(TINY, (1, 8, 8), [0.3], [0.3], seed)


def tiny_data(n, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = (torch.rand(n, 1, 8, 8, generator=g) * 120 + y.view(-1, 1, 1, 1) * 60).to(torch.uint8)
    return x, y


def test_mono_head_feeds_nonnegative_inputs_and_standard_does_not():
    x = torch.rand(64, 1, 8, 8)
    mono = FinetuneModel(tiny_encoder(), 3, "mono", torch.Generator().manual_seed(0))
    std = FinetuneModel(tiny_encoder(), 3, "standard", torch.Generator().manual_seed(0))
    assert (mono.features(x) >= 0).all()
    assert (std.features(x) < 0).any()
    assert torch.equal(mono.features(x), torch.relu(std.features(x)))


def test_finetune_records_history_and_selects_on_validation():
    tx, ty = tiny_data(96, 0)
    vx, vy = tiny_data(48, 1)
    sx, sy = tiny_data(60, 2)
    cfg = FinetuneConfig(epochs=4, batch_size=32, lr=3e-3, head_lr=0.1)
    res = finetune(tiny_encoder(), "mono", tx, ty, ty, vx, vy, sx, sy, 3, cfg, seed=0)
    assert [r.epoch for r in res.history] == [1, 2, 3, 4]
    vals = [r.val_accuracy for r in res.history]
    assert max(vals) > vals[0]                                   # it learns: not a tie at chance
    assert res.best_epoch == vals.index(max(vals)) + 1          # first best on validation
    assert res.test_nonneg_share == 1.0                          # classifier inputs >= 0 on test
    assert res.test_accuracy > 0.6                               # chance is 1/3
    again = finetune(tiny_encoder(), "mono", tx, ty, ty, vx, vy, sx, sy, 3, cfg, seed=0)
    assert again.history == res.history and again.test_accuracy == res.test_accuracy


def test_mono_finetuning_keeps_nonnegative_inputs_after_training():
    tx, ty = tiny_data(64, 0)
    cfg = FinetuneConfig(epochs=2, batch_size=32, lr=1e-2, head_lr=1e-2)
    res = finetune(tiny_encoder(), "mono", tx, ty, ty, tx, ty, tx, ty, 3, cfg, seed=1)
    assert res.test_nonneg_share == 1.0
    std = finetune(tiny_encoder(), "standard", tx, ty, ty, tx, ty, tx, ty, 3, cfg, seed=1)
    assert std.test_nonneg_share < 1.0


def test_encoder_is_not_modified_in_place():
    enc = tiny_encoder()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    tx, ty = tiny_data(64, 0)
    finetune(enc, "standard", tx, ty, ty, tx, ty, tx, ty, 3,
             FinetuneConfig(epochs=1, batch_size=32), seed=0)
    assert all(torch.equal(before[k], v) for k, v in enc.state_dict().items())


def test_run_finetune_pretrains_missing_encoders_writes_rows_and_resumes(tmp_path):
    run = load_config("smoke", {"out": str(tmp_path), "seeds": [0], "pretrain.epochs": 1})
    cfg = FinetuneConfig(objectives=("ncl",), heads=("standard", "mono"), label_noise=(0.4,),
                         few_shot=(3,), train_size=200, val_size=60, epochs=2, batch_size=64)
    summary = run_finetune(run, cfg, progress=False)
    rows = [json.loads(x) for x in (tmp_path / "finetune.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 3                                    # heads x (clean, noise, few-shot)
    assert (tmp_path / "checkpoints" / "ncl-seed0").is_dir()
    noisy = next(r for r in rows if r["scenario"] == "label_noise")
    assert noisy["realised_noise_rate"] == pytest.approx(0.4, abs=0.01)
    assert len(noisy["history"]) == 2 and {"train_accuracy", "val_accuracy"} <= set(noisy["history"][0])
    assert all(r["nonneg_share"] == 1.0 for r in rows if r["head"] == "mono")
    assert next(r for r in rows if r["scenario"] == "few_shot")["n_train"] == 3 * 10
    assert len(summary) == 6
    before = (tmp_path / "finetune.jsonl").read_text()
    run_finetune(run, cfg, progress=False)
    assert (tmp_path / "finetune.jsonl").read_text() == before   # nothing redone
    # Settings that change the numbers are refused before any work, naming the keys and the fix;
    # choosing other cells (a subset here) is not.
    with pytest.raises(ConfigError,
                       match=r"differs in: finetune\.epochs, finetune\.lr\); pass a new --out"):
        run_finetune(run, replace(cfg, epochs=5, lr=0.01), progress=False)
    assert len(run_finetune(run, replace(cfg, heads=("mono",), few_shot=()), progress=False)) == 2
    assert (tmp_path / "finetune.jsonl").read_text() == before
    # The folder is claimed as `run` claims it: its config.yaml records this run's settings,
    # and a run with other ones may not reuse these encoders.
    assert load_config(str(tmp_path / "config.yaml")).pretrain == run.pretrain
    with pytest.raises(ConfigError, match=r"holds a run with a different config \(differs in: "
                                          r"pretrain\.epochs\)"):
        run_finetune(replace(run, pretrain=replace(run.pretrain, epochs=2)), cfg, progress=False)
    rows[0]["config"] = None                                     # a row that cannot be checked
    (tmp_path / "finetune.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ConfigError, match="no recorded config"):
        run_finetune(run, cfg, progress=False)


@pytest.mark.parametrize("bad, key", [({"heads": ("relu",)}, "finetune.heads"),
                                      ({"objectives": ("byol",)}, "finetune.objectives"),
                                      ({"label_noise": (1.2,)}, "finetune.label_noise"),
                                      ({"few_shot": (0,)}, "finetune.few_shot"),
                                      ({"epochs": 0}, "finetune.epochs")])
def test_config_errors_name_the_key(bad, key):
    with pytest.raises(ConfigError, match=key):
        FinetuneConfig(**bad)


def test_settings_are_checked_against_the_data_before_work(tmp_path):
    run = load_config("smoke", {"out": str(tmp_path), "seeds": [0]})
    with pytest.raises(ConfigError, match="few_shot k=500"):
        run_finetune(run, FinetuneConfig(few_shot=(500,), train_size=200), progress=False)
    with pytest.raises(ConfigError, match="label-noise rate 0.95"):
        run_finetune(run, FinetuneConfig(label_noise=(0.95,)), progress=False)
    assert not (tmp_path / "checkpoints").exists()


def test_a_diverged_finetuning_is_an_error_not_a_result():
    tx, ty = tiny_data(64, 0)
    cfg = FinetuneConfig(epochs=2, batch_size=32, lr=1e30, head_lr=1e30)
    with pytest.raises(ConfigError, match=r"fine-tuning \(mono head, seed 1\) diverged: the mean "
                                          r"loss of epoch 1 is nan"):
        finetune(tiny_encoder(), "mono", tx, ty, ty, tx, ty, tx, ty, 3, cfg, seed=1)
