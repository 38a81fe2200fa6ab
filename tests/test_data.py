import gzip

import numpy as np
import pytest
import torch

from monorobust.data import DATASETS, load_dataset, make_splits
from monorobust.data.idx import read_idx
from monorobust.errors import ConfigError


def _write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def test_idx_round_trip(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "x.gz", arr)
    assert torch.equal(read_idx(tmp_path / "x.gz"), torch.from_numpy(arr))
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ConfigError, match="not an IDX file"):
        read_idx(tmp_path / "bad")


def test_fashion_mnist_reads_idx_files_from_data_dir(tmp_path):
    g = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 20)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", g.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    ds = load_dataset("fashion-mnist", tmp_path)
    assert ds.train.images.shape == (30, 1, 28, 28) and ds.train.images.dtype == torch.uint8
    assert ds.test.labels.dtype == torch.int64 and ds.num_classes == 10


def test_fashion_mnist_data_dir_without_files_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no Fashion-MNIST idx files"):
        load_dataset("fashion-mnist", tmp_path)


def test_validation_split_is_stratified_disjoint_and_fixed():
    ds = load_dataset("digits")
    s1, s2 = make_splits(ds, 0.2), make_splits(ds, 0.2)
    assert torch.equal(s1.val.labels, s2.val.labels)
    assert len(s1.train) + len(s1.val) == len(ds.train)
    counts = torch.bincount(s1.val.labels).float()
    assert counts.max() - counts.min() <= 2


@pytest.mark.parametrize("name", [n for n in DATASETS.names() if n == "digits"])
def test_registered_offline_datasets_load(name):
    ds = load_dataset(name)
    assert ds.train.images.dtype == torch.uint8 and ds.train.images.ndim == 4
