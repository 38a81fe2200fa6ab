"""Files that can be trusted: damaged checkpoints, JSON lines, data and config files are caught.

Each damage is made by hand on a small file the test writes: flipped bytes in a checkpoint's
tensors, a file cut short, random bytes. A damaged file is either one ``ConfigError`` naming it
and the damage, or (where the work it held can be redone) skipped with an ``IntegrityWarning``
and redone, ending with the same numbers as if nothing had happened.
"""

from __future__ import annotations

import gzip
import json
import pickle
import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import save as st_save

from monorobust.config import load_config
from monorobust.data import load_dataset
from monorobust.data.cifar import read_batch
from monorobust.data.folder import decode_image
from monorobust.data.idx import read_idx
from monorobust.errors import ConfigError
from monorobust.io import IntegrityWarning, append_jsonl, read_jsonl
from monorobust.train import PretrainConfig, pretrain
from monorobust.train.augment import AugmentConfig
from monorobust.train.checkpoint import (DamagedCheckpoint, checkpoint_path, latest_checkpoint,
                                         load_checkpoint, save_checkpoint, tensor_checksum)

# As in test_pretrain: 600 digits, batch 128 -> 4 steps per epoch, a second per run.
CFG = PretrainConfig(encoder="mlp", width=32, proj_hidden=32, proj_dim=16, epochs=3,
                     batch_size=128, lr=2e-3, keep_checkpoints=2,
                     augment=AugmentConfig(crop_scale=(0.5, 1.0), flip_p=0.0, blur_p=0.0))


def _states() -> dict:
    gen = torch.Generator().manual_seed(0)
    return {"model": {"w": torch.randn(4, 3, generator=gen), "b": torch.zeros(3, dtype=torch.bfloat16)},
            "scheduler": {"last_epoch": 7}}


def _flip_tensor_byte(path) -> None:
    """Flip one byte in the tensor data (after the header), leaving the file's size as it was."""
    raw = bytearray(path.read_bytes())
    data_start = 8 + int.from_bytes(raw[:8], "little")
    raw[data_start + (len(raw) - data_start) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


# --- checkpoints ----------------------------------------------------------------------------

def test_checkpoint_round_trips_with_its_checksum(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, _states(), {"epoch": 1})
    states, meta = load_checkpoint(path)
    assert meta == {"epoch": 1}
    assert torch.equal(states["model"]["w"], _states()["model"]["w"])
    assert states["scheduler"]["last_epoch"] == 7
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["tensors_sha256"] == tensor_checksum({"model.w": _states()["model"]["w"],
                                                         "model.b": _states()["model"]["b"]})


def test_checksum_mismatch_after_flipping_a_tensor_byte(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, _states(), {"epoch": 1})
    _flip_tensor_byte(path)
    with pytest.raises(DamagedCheckpoint, match="checksum mismatch") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and isinstance(err.value, ConfigError)


@pytest.mark.parametrize("damage, problem", [
    (lambda raw: raw[: len(raw) // 2], "truncated / not a safetensors file"),
    (lambda raw: raw[:-1], "truncated / not a safetensors file"),
    (lambda raw: raw[:5], "truncated / not a safetensors file"),
    (lambda raw: b"", "truncated / not a safetensors file"),
    (lambda raw: np.random.default_rng(0).bytes(len(raw)), "truncated / not a safetensors file"),
    (lambda raw: raw[:8] + b"x" + raw[9:], "truncated / not a safetensors file"),   # bad header
])
def test_truncated_or_random_checkpoint_is_a_config_error_naming_the_file(tmp_path, damage, problem):
    path = tmp_path / "epoch-0001.safetensors"
    save_checkpoint(path, _states(), {"epoch": 1})
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ConfigError, match="damaged") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_safetensors_file_without_monorobust_metadata_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    path.write_bytes(st_save({"x": torch.zeros(2)}))
    with pytest.raises(ConfigError, match="no monorobust metadata"):
        load_checkpoint(path)


def test_old_checkpoint_without_a_checksum_still_loads(tmp_path):
    path = tmp_path / "old.safetensors"
    doc = {"epoch": 2, "states": {"model": {"__dict__": [["w", {"__tensor__": "model.w"}]]}}}
    path.write_bytes(st_save({"model.w": torch.ones(3)}, metadata={"monorobust": json.dumps(doc)}))
    states, meta = load_checkpoint(path)
    assert meta == {"epoch": 2} and torch.equal(states["model"]["w"], torch.ones(3))


# --- resuming past a damaged checkpoint -------------------------------------------------------

def _images():
    return load_dataset("digits").train.images[:600]


def _cut_after_two_epochs(out) -> None:
    """A run that wrote the checkpoints of epochs 1 and 2, then crashed during epoch 3."""
    with pytest.raises(InterruptedError):
        pretrain(_images(), CFG, "ncl", seed=3, out_dir=out, progress=False, stop_after_steps=9)
    assert latest_checkpoint(out) == checkpoint_path(out, 2)


def _assert_same_run(a, b) -> None:
    assert a.losses == b.losses
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    return pretrain(_images(), CFG, "ncl", seed=3, out_dir=tmp_path_factory.mktemp("full"),
                    progress=False)


def test_corrupt_latest_checkpoint_resumes_from_the_one_before(tmp_path, uninterrupted):
    _cut_after_two_epochs(tmp_path)
    _flip_tensor_byte(checkpoint_path(tmp_path, 2))
    with pytest.warns(IntegrityWarning, match=r"epoch-0002\.safetensors is damaged \(checksum mismatch"):
        resumed = pretrain(_images(), CFG, "ncl", seed=3, out_dir=tmp_path, progress=False)
    _assert_same_run(resumed, uninterrupted)
    # The damaged file was rewritten by the rerun of its epoch: every kept checkpoint verifies.
    assert [p.name for p in sorted(tmp_path.glob("epoch-*.safetensors"))] == \
        ["epoch-0002.safetensors", "epoch-0003.safetensors"]
    for p in tmp_path.glob("epoch-*.safetensors"):
        load_checkpoint(p)


def test_no_intact_checkpoint_starts_over(tmp_path, uninterrupted):
    _cut_after_two_epochs(tmp_path)
    checkpoint_path(tmp_path, 2).write_bytes(b"garbage")
    raw = checkpoint_path(tmp_path, 1).read_bytes()
    checkpoint_path(tmp_path, 1).write_bytes(raw[: len(raw) // 3])
    with pytest.warns(IntegrityWarning) as record:
        resumed = pretrain(_images(), CFG, "ncl", seed=3, out_dir=tmp_path, progress=False)
    messages = [str(w.message) for w in record]
    assert any("epoch-0002.safetensors is damaged" in m for m in messages)
    assert any("epoch-0001.safetensors is damaged" in m for m in messages)
    assert any("no intact checkpoint" in m and "starting over" in m for m in messages)
    _assert_same_run(resumed, uninterrupted)


def test_damaged_sae_cache_is_retrained(tmp_path):
    from monorobust.sae import SAEConfig, fit_cached

    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(0))
    cfg = SAEConfig(width=16, k=4, batch_size=32, steps=5)
    fmap = fit_cached(x, cfg, 0, tmp_path)
    _flip_tensor_byte(tmp_path / "sae.safetensors")
    with pytest.warns(IntegrityWarning, match="sae.safetensors is damaged .*retraining"):
        again = fit_cached(x, cfg, 0, tmp_path)
    assert torch.equal(again(x), fmap(x))
    load_checkpoint(tmp_path / "sae.safetensors")        # rewritten intact


# --- JSON lines -------------------------------------------------------------------------------

def _write_rows(path, n: int) -> bytes:
    text = "".join(json.dumps({"i": i}) + "\n" for i in range(n))
    path.write_text(text)
    return text.encode()


def test_truncated_last_line_is_dropped_with_a_warning_and_append_repairs(tmp_path):
    path = tmp_path / "results.jsonl"
    good = _write_rows(path, 3)
    path.write_bytes(good + b'{"i": 3, "acc')                 # an append cut short
    with pytest.warns(IntegrityWarning, match=r"results\.jsonl line 4 is truncated"):
        assert read_jsonl(path) == [{"i": 0}, {"i": 1}, {"i": 2}]
    append_jsonl(path, [{"i": 3}])                           # the rerun's row replaces it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_jsonl(path) == [{"i": i} for i in range(4)]


def test_last_line_without_newline_but_intact_is_kept(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(_write_rows(path, 2) + b'{"i": 2}')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(read_jsonl(path)) == 3
        append_jsonl(path, [{"i": 3}])
        assert read_jsonl(path) == [{"i": i} for i in range(4)]


@pytest.mark.parametrize("bad", [b'{"i": 1', b"\xff\xfe\x00garbage", b"[1, 2]"])
def test_damaged_line_in_the_middle_is_a_config_error_with_its_number(tmp_path, bad):
    path = tmp_path / "finetune.jsonl"
    lines = _write_rows(path, 4).splitlines()
    lines[1] = bad
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(ConfigError, match=r"finetune\.jsonl line 2 .*delete that line"):
        read_jsonl(path)


# --- data and config files --------------------------------------------------------------------

def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_truncated_gz_idx_is_a_config_error_naming_the_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    packed = gzip.compress(_idx_bytes(np.zeros((10, 28, 28))))
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ConfigError, match="truncated") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_non_gzip_gz_file_is_a_config_error_naming_the_file(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(_idx_bytes(np.arange(10)))               # plain idx under a .gz name
    with pytest.raises(ConfigError, match="not a valid gzip file") as err:
        read_idx(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("cut", [6, 10, -7])
def test_truncated_plain_idx_is_a_config_error(tmp_path, cut):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(_idx_bytes(np.zeros((3, 4, 4)))[:cut])
    with pytest.raises(ConfigError, match="truncated") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_idx_of_wider_dtype_cut_mid_value_is_a_config_error(tmp_path):
    path = tmp_path / "x-idx1"
    data = bytes([0, 0, 0x0C, 1]) + (4).to_bytes(4, "big") + np.arange(4, dtype=">i4").tobytes()
    path.write_bytes(data[:-2])
    with pytest.raises(ConfigError, match="truncated"):
        read_idx(path)


def test_truncated_cifar_batch_is_a_config_error_naming_the_file(tmp_path):
    path = tmp_path / "data_batch_1"
    doc = {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}
    raw = pickle.dumps(doc, protocol=2)
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ConfigError, match="not a CIFAR batch file") as err:
        read_batch(path, "labels")
    assert str(path) in str(err.value)


def test_unreadable_image_is_a_config_error_naming_the_file(tmp_path):
    from PIL import Image

    path = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:1500])                # cut inside the pixel data
    with pytest.raises(ConfigError, match="cannot decode image") as err:
        decode_image(path, 8)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("content", [b"\x00\x01\xff\xfe binary \x80\x81", b"- a\n- b\n",
                                     b"seeds: [0\n", b"just a string\n"])
def test_damaged_config_yaml_is_a_config_error_naming_the_file(tmp_path, content):
    path = tmp_path / "config.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert str(path) in str(err.value)


# --- the commands on a folder with a truncated last row -----------------------------------------

def test_run_recomputes_a_truncated_last_row_and_report_reads_the_rest(tmp_path, capsys):
    from monorobust.cli import main

    out = tmp_path / "run"
    run = ["run", "--preset", "smoke", "--out", str(out), "--quiet", "--no-report", "--seeds", "0",
           "--set", "representations=[cl]", "--set", "pretrain.epochs=1", "--set", "probe.steps=25",
           "--set", "grid.scenarios={clean: [0], label_noise: [0.4]}"]
    assert main(run) == 0
    path = out / "results.jsonl"
    complete = path.read_bytes()
    path.write_bytes(complete[:-30])                          # the last row's append cut short
    info = (out / "run.json").read_bytes()
    (out / "run.json").write_bytes(info[:20])
    with pytest.warns(IntegrityWarning, match=r"results\.jsonl line 2 is truncated"):
        assert main(["report", str(out)]) == 0
    assert "run.json: damaged" in (out / "report.md").read_text()
    (out / "run.json").write_bytes(info)
    with pytest.warns(IntegrityWarning, match=r"results\.jsonl line 2 is truncated"):
        assert main(run) == 0

    features = next((out / "features").glob("*.safetensors"))
    features.write_bytes(features.read_bytes()[:100])
    assert main(["report", str(out)]) == 2
    assert f"error: {features} is damaged" in capsys.readouterr().err

    def without_timing(rows):
        return sorted(json.dumps({k: v for k, v in r.items() if k != "seconds"}, sort_keys=True)
                      for r in rows)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rows = read_jsonl(path)
    assert without_timing(rows) == without_timing(json.loads(x) for x in complete.splitlines())


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\xff binary", b"- 1\n- 2\n"])
def test_run_on_a_folder_with_a_damaged_config_yaml_is_a_one_line_error(tmp_path, capsys, content):
    from monorobust.cli import main

    (tmp_path / "config.yaml").write_bytes(content)
    assert main(["run", "--preset", "smoke", "--out", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(tmp_path / "config.yaml") in err
    assert "Traceback" not in err


def test_a_flipped_byte_in_a_runs_saved_test_features_is_refused_by_the_report(tmp_path):
    """features/REP-seedS-test.safetensors had no checksum: a flipped byte became a feature
    value in the gallery and the per-class figure."""
    from monorobust.report.gallery import load_features
    from monorobust.rundir import RunDir

    run = RunDir(tmp_path)
    (tmp_path / "features").mkdir()
    feats, labels = torch.arange(60.0).view(20, 3), torch.arange(20) % 4
    run.save_features("cl", 0, feats, labels)
    path = run.features("cl", 0)
    assert torch.equal(load_features(path).features, feats)
    raw = path.read_bytes()
    path.write_bytes(raw[:-100] + bytes([raw[-100] ^ 0x40]) + raw[-99:])
    with pytest.raises(ConfigError, match=r"cl-seed0-test.safetensors is damaged \(checksum "
                                          r"mismatch.*delete it to leave it out of the report"):
        load_features(path)
