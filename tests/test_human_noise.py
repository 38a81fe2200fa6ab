"""human_noise: CIFAR-N human labels on a fake CIFAR-10 folder and a human-label file written here."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from monorobust.config import DataConfig
from monorobust.data.prepare import prepare_splits
from monorobust.errors import ConfigError
from monorobust.evaluate.scenarios import SCENARIOS
from monorobust.evaluate.scenarios.human_noise import LABEL_SETS

PER_BATCH = 40                                   # 5 batches: 200 training images, 20 per class


def _write_cifar10(root):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        labels = rng.permutation(np.arange(PER_BATCH) % 10).tolist()
        doc = {"data": rng.integers(0, 256, (PER_BATCH, 3072), dtype=np.uint8), "labels": labels}
        (folder / name).write_bytes(pickle.dumps(doc, protocol=2))
    train = [pickle.loads((folder / f"data_batch_{k}").read_bytes())["labels"] for k in range(1, 6)]
    return np.concatenate(train).astype(np.int64)


def _flip(clean: np.ndarray, share: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = clean.copy()
    idx = rng.choice(len(clean), int(share * len(clean)), replace=False)
    out[idx] = (out[idx] + 1 + rng.integers(0, 9, len(idx))) % 10      # another class
    return out


def _write_human(root, clean: np.ndarray) -> dict[str, np.ndarray]:
    sets = {"clean_label": clean, "aggre_label": _flip(clean, 0.1, 1),
            "random_label1": _flip(clean, 0.17, 2), "random_label2": _flip(clean, 0.18, 3),
            "random_label3": _flip(clean, 0.18, 4), "worse_label": _flip(clean, 0.4, 5)}
    torch.save(sets, root / "CIFAR-10_human.pt")      # numpy arrays, as the official file
    return sets


@pytest.fixture
def cifar(tmp_path):
    clean = _write_cifar10(tmp_path)
    return tmp_path, _write_human(tmp_path, clean)


@pytest.mark.parametrize("train_size", [None, 120])
def test_human_labels_follow_the_runs_split_indices(cifar, train_size):
    root, sets = cifar
    data = DataConfig(name="cifar10", data_dir=str(root), val_fraction=0.2, train_size=train_size)
    splits = prepare_splits(data)
    scen = SCENARIOS.get("human_noise")
    scen.check_data(data)
    for severity, name in enumerate(LABEL_SETS["cifar10"]):
        ts = scen.train_set(splits.train.labels, splits.val.labels, severity, 10,
                            torch.Generator().manual_seed(0), data=data)
        assert torch.equal(ts.train_idx, torch.arange(len(splits.train)))
        # Each training image gets the human label of *its* original index: found by its pixels.
        flat = splits.train.images.flatten(1)
        order = {bytes(flat[i].numpy()): i for i in range(len(flat))}
        full = torch.cat([torch.from_numpy(pickle.loads((root / "cifar-10-batches-py" /
                          f"data_batch_{k}").read_bytes())["data"]) for k in range(1, 6)])
        human = torch.from_numpy(sets[{"aggre": "aggre_label", "worse": "worse_label"}.get(
            name, f"random_label{name[-1]}")])
        for j in range(len(full)):
            i = order.get(bytes(full[j].numpy()))
            if i is not None:
                assert int(ts.train_labels[i]) == int(human[j])
        differs = float((ts.train_labels != splits.train.labels).float().mean())
        assert ts.realised_noise_rate == pytest.approx(differs)
    worse = scen.train_set(splits.train.labels, splits.val.labels, 4, 10,
                           torch.Generator().manual_seed(0), data=data)
    assert 0.25 < worse.realised_noise_rate < 0.55        # the file flips 40%


def test_missing_file_names_it_and_where_to_get_it(tmp_path):
    _write_cifar10(tmp_path)
    data = DataConfig(name="cifar10", data_dir=str(tmp_path), val_fraction=0.2)
    with pytest.raises(ConfigError, match=r"CIFAR-10_human\.pt not found.*UCSC-REAL/cifar-10-100n"):
        SCENARIOS.get("human_noise").check_data(data)


def test_wrong_length_or_order_is_refused(cifar):
    root, sets = cifar
    data = DataConfig(name="cifar10", data_dir=str(root), val_fraction=0.2)
    splits = prepare_splits(data)
    scen = SCENARIOS.get("human_noise")
    torch.save({k: np.concatenate([v, v]) for k, v in sets.items()}, root / "CIFAR-10_human.pt")
    with pytest.raises(ConfigError, match="holds 400 clean.*has 200 images"):
        scen.train_set(splits.train.labels, splits.val.labels, 0, 10, torch.Generator(), data=data)
    torch.save({k: v[::-1].copy() for k, v in sets.items()}, root / "CIFAR-10_human.pt")
    with pytest.raises(ConfigError, match="do not match cifar10's training split"):
        scen.train_set(splits.train.labels, splits.val.labels, 0, 10, torch.Generator(), data=data)


def test_other_datasets_and_bad_label_sets_are_refused():
    scen = SCENARIOS.get("human_noise")
    with pytest.raises(ConfigError, match="cifar10 or cifar100"):
        scen.check_data(DataConfig(name="digits"))
    with pytest.raises(ConfigError, match="label set 5 does not exist"):
        scen.check((5,), num_classes=10)
    with pytest.raises(ConfigError, match="label set 1 does not exist"):
        scen.check((1,), num_classes=100)


@pytest.mark.slow
def test_run_trains_the_probe_on_human_labels(cifar, tmp_path):
    from monorobust.cli import main

    root, _ = cifar
    out = tmp_path / "run"
    cfg = root / "run.yaml"
    cfg.write_text(json.dumps({
        "out": str(out), "seeds": [0], "representations": ["cl"], "device": "cpu",
        "data": {"name": "cifar10", "data_dir": str(root), "val_fraction": 0.2},
        "pretrain": {"encoder": "mlp", "width": 32, "proj_hidden": 32, "proj_dim": 16,
                     "epochs": 1, "batch_size": 64},
        "probe": {"steps": 10, "batch_size": 64, "eval_every": 5},
        "grid": {"scenarios": {"clean": [0], "human_noise": [0, 4]}}}))
    assert main(["run", "--preset", str(cfg), "--quiet", "--no-report"]) == 0
    rows = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    human = {r["severity"]: r for r in rows if r["scenario"] == "human_noise"}
    assert set(human) == {0.0, 4.0}
    assert human[0.0]["realised_noise_rate"] < human[4.0]["realised_noise_rate"]
