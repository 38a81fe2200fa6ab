"""CIFAR-10/100 and ImageNet-100 loaders on tiny files written here, in each on-disk format."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from monorobust.data import load_dataset
from monorobust.data import cifar as cifar_mod
from monorobust.data.folder import FolderImages
from monorobust.data.imagenet100 import class_list
from monorobust.errors import ConfigError


def _batch(n: int, label_key: str, classes: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            label_key: rng.integers(0, classes, n).tolist(), "batch_label": "test"}


def write_cifar10(root, n: int = 6):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        (folder / name).write_bytes(pickle.dumps(_batch(n, "labels", 10, i), protocol=2))
    return folder


def write_cifar100(root, n: int = 8):
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for i, name in enumerate(["train", "test"]):
        doc = _batch(n, "fine_labels", 100, i)
        doc["coarse_labels"] = [0] * n
        (folder / name).write_bytes(pickle.dumps(doc))
    return folder


def test_cifar10_reads_torchvision_layout(tmp_path):
    folder = write_cifar10(tmp_path)
    ds = load_dataset("cifar10", tmp_path)
    assert ds.train.images.shape == (30, 3, 32, 32) and ds.test.images.shape == (6, 3, 32, 32)
    assert ds.train.images.dtype == torch.uint8 and ds.num_classes == 10
    raw = pickle.loads((folder / "data_batch_1").read_bytes())
    # Rows are channel-major 1024 R, 1024 G, 1024 B values, as CIFAR stores them.
    assert torch.equal(ds.train.images[0, 1].flatten(), torch.from_numpy(raw["data"][0, 1024:2048]))
    assert ds.train.labels[:6].tolist() == raw["labels"]
    assert load_dataset("cifar10", folder).train.images.shape[0] == 30   # the inner folder too


def test_cifar100_fine_labels(tmp_path):
    write_cifar100(tmp_path)
    ds = load_dataset("cifar100", tmp_path)
    assert ds.num_classes == 100 and ds.classes[0] == "apple" and ds.classes[-1] == "worm"
    assert ds.train.images.shape == (8, 3, 32, 32) and len(ds.test) == 8


def test_missing_and_malformed_cifar_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="expected .*cifar-10-batches-py"):
        load_dataset("cifar10", tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_dataset("cifar10", tmp_path / "nowhere")
    folder = write_cifar10(tmp_path)
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(ConfigError, match="data_batch_3 is not a CIFAR batch file") as err:
        load_dataset("cifar10", tmp_path)
    assert "\n" not in str(err.value)
    (folder / "data_batch_3").write_bytes(pickle.dumps({"data": np.zeros((2, 5), np.uint8), "labels": [0, 1]}))
    with pytest.raises(ConfigError, match="expected a dict with uint8 'data'"):
        load_dataset("cifar10", tmp_path)


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_cifar_unpickler_refuses_code(tmp_path):
    folder = write_cifar10(tmp_path)
    (folder / "test_batch").write_bytes(pickle.dumps({"data": _Evil(), "labels": []}))
    with pytest.raises(ConfigError, match="builtins.print is not allowed"):
        load_dataset("cifar10", tmp_path)


def test_cifar_download_checks_and_unpacks(tmp_path, monkeypatch):
    src = write_cifar10(tmp_path / "src")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src, arcname="cifar-10-batches-py")
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(buf.getvalue())
    spec = cifar_mod.CIFAR10._replace(url=archive.as_uri(), md5=hashlib.md5(buf.getvalue()).hexdigest())
    cache = tmp_path / "cache"
    assert cifar_mod.download(spec, cache) == cache / "cifar-10-batches-py"
    assert (cache / "cifar-10-batches-py" / "test_batch").is_file()
    bad = spec._replace(md5="0" * 32)
    with pytest.raises(ConfigError, match="expected 0000"):
        cifar_mod.download(bad, tmp_path / "cache2")
    monkeypatch.setenv("MONOROBUST_CACHE", str(tmp_path / "offline"))
    monkeypatch.setattr(cifar_mod, "CIFAR10", spec._replace(url=(tmp_path / "absent.tar.gz").as_uri()))
    with pytest.raises(ConfigError, match="could not be downloaded"):
        cifar_mod.load_cifar10(None)


def _write_folder(root, classes, per_class: int, sizes=((40, 30), (25, 50))):
    for split in ("train", "val"):
        for label, wnid in enumerate(classes):
            d = root / split / wnid
            d.mkdir(parents=True)
            for i in range(per_class):
                w, h = sizes[i % len(sizes)]
                Image.new("RGB", (w, h), (label, i * 20, 200)).save(d / f"{wnid}_{i}.JPEG", quality=95)


def test_imagenet100_image_folder(tmp_path):
    classes = class_list()
    assert len(classes) == 100 and len(set(classes)) == 100 and classes[0] == "n02869837"
    _write_folder(tmp_path, classes, per_class=1)
    (tmp_path / "train" / "n99999999").mkdir()               # extra classes are ignored
    ds = load_dataset("imagenet100", tmp_path, image_size=16)
    assert isinstance(ds.train.images, FolderImages) and ds.train.images.shape == (100, 3, 16, 16)
    assert ds.test.images.dtype == torch.uint8 and ds.test.images.shape == (100, 3, 16, 16)
    assert ds.train.labels.tolist() == list(range(100))
    x = ds.train.images[7]                                  # decodes one image
    assert x.shape == (3, 16, 16) and abs(int(x[0].float().mean()) - 7) <= 3
    sub = ds.train.subset(torch.tensor([3, 5]))             # splits stay lazy
    assert isinstance(sub.images, FolderImages) and sub.images.to("cpu").shape == (2, 3, 16, 16)


def test_imagenet100_errors(tmp_path):
    with pytest.raises(ConfigError, match="pass --data-dir"):
        load_dataset("imagenet100")
    with pytest.raises(ConfigError, match="expected .*train/<wnid>"):
        load_dataset("imagenet100", tmp_path)
    _write_folder(tmp_path, class_list()[:98], per_class=1)
    with pytest.raises(ConfigError, match="lacks 2 of 100 class folders"):
        load_dataset("imagenet100", tmp_path, image_size=16)
    with pytest.raises(ConfigError, match="fixed resolution"):
        load_dataset("digits", image_size=16)


def test_broken_image_is_named(tmp_path):
    bad = tmp_path / "x.JPEG"
    bad.write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="cannot decode image .*x.JPEG"):
        FolderImages([bad], 8)[0]
