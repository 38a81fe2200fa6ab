"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009): 50k/10k colour 32x32 images, 10 or 100 classes.

Read from the python-pickle files in torchvision's layout::

    DATA_DIR/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}
    DATA_DIR/cifar-100-python/{train, test, meta}

(``DATA_DIR`` may also be that inner folder itself). With no ``--data-dir``, the cache
``~/.cache/monorobust`` (``$MONOROBUST_CACHE``) is used, and the official ``.tar.gz`` is
downloaded into it where the network allows: written atomically, its MD5 checked against the
published one, and unpacked with tarfile's ``data`` filter (no absolute paths or links out).

Pickle runs code while it loads, so the files are read with an unpickler that may only rebuild
NumPy arrays (``_SafeUnpickler``); anything else in a file is refused with a ``ConfigError``.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import tarfile
import urllib.request
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from monorobust.data.base import DATASETS, ImageDataset, ImageSplit
from monorobust.errors import ConfigError
from monorobust.io import atomic_write_bytes


class CifarSpec(NamedTuple):
    name: str
    folder: str
    """Folder inside the archive and in torchvision's layout."""
    train: tuple[str, ...]
    test: str
    label_key: str
    url: str
    md5: str
    """MD5 of the archive as published by torchvision / the dataset's page."""
    classes: tuple[str, ...]


CIFAR10 = CifarSpec(
    "cifar10", "cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch",
    "labels", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "c58f30108f718f92721af3b95e74349a",
    ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"))

CIFAR100 = CifarSpec(
    "cifar100", "cifar-100-python", ("train",), "test", "fine_labels",
    "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    "eb9058c3a382ffc7106e4002c42a8d85",
    tuple("apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus "
          "butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach "
          "couch crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster "
          "house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree "
          "motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear "
          "pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road "
          "rocket rose sea seal shark shrew skunk skyscraper snail snake spider squirrel "
          "streetcar sunflower sweet_pepper table tank telephone television tiger tractor train "
          "trout tulip turtle wardrobe whale willow_tree wolf woman worm".split()))

# The only globals a CIFAR pickle needs: NumPy's array reconstruction (numpy 1 and 2 module
# names) and the codec Python 3 uses for bytes in protocol-2 pickles.
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        return super().find_class(module, name)


def read_batch(path: Path, label_key: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of one CIFAR pickle file."""
    try:
        doc = _SafeUnpickler(io.BytesIO(path.read_bytes()), encoding="latin1").load()
    except Exception as err:  # noqa: BLE001  (any unpickling failure means a bad file)
        raise ConfigError(f"{path} is not a CIFAR batch file ({err}); re-download it") from None
    data = doc.get("data") if isinstance(doc, dict) else None
    labels = doc.get(label_key) if isinstance(doc, dict) else None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3 * 32 * 32 or labels is None or len(labels) != len(data):
        raise ConfigError(f"{path} is not a CIFAR batch file (expected a dict with uint8 'data' "
                          f"(N, 3072) and {len(data) if data is not None else 'N'} "
                          f"'{label_key}'); re-download it")
    images = torch.from_numpy(np.ascontiguousarray(data).reshape(-1, 3, 32, 32).copy())
    return images, torch.as_tensor(np.asarray(labels, dtype=np.int64))


def _complete(folder: Path, spec: CifarSpec) -> bool:
    return all((folder / f).is_file() for f in (*spec.train, spec.test))


def cache_dir() -> Path:
    return Path(os.environ.get("MONOROBUST_CACHE", Path.home() / ".cache" / "monorobust"))


def download(spec: CifarSpec, root: Path) -> Path:
    """Fetch, check and unpack ``spec``'s archive into ``root``; returns the batches folder."""
    archive = root / Path(spec.url).name
    if not archive.is_file():
        with urllib.request.urlopen(spec.url, timeout=60) as response:
            atomic_write_bytes(archive, response.read())
    digest = hashlib.md5(archive.read_bytes()).hexdigest()
    if digest != spec.md5:
        archive.unlink()
        raise ConfigError(f"{spec.url} downloaded with MD5 {digest}, expected {spec.md5}; "
                          "the file was removed, try again")
    tmp = root / f".{spec.folder}.partial"
    shutil.rmtree(tmp, ignore_errors=True)                # left by an interrupted unpacking
    with tarfile.open(archive, "r:gz") as tar:
        if hasattr(tarfile, "data_filter"):       # Python >= 3.12, 3.11.4, 3.10.12
            tar.extractall(tmp, filter="data")
        else:                                    # older: no filters (the archive's MD5 is checked)
            tar.extractall(tmp)
    os.replace(tmp / spec.folder, root / spec.folder)   # the folder appears only when complete
    tmp.rmdir()
    return root / spec.folder


def locate(spec: CifarSpec, data_dir: Path | None) -> Path:
    """The folder holding ``spec``'s batch files: in ``data_dir``, the cache, or downloaded."""
    if data_dir is not None:
        for folder in (data_dir / spec.folder, data_dir):
            if _complete(folder, spec):
                return folder
        files = ", ".join((*spec.train, spec.test))
        raise ConfigError(f"no {spec.name} in {data_dir}: expected {data_dir / spec.folder}/ with "
                          f"{files} (torchvision's layout); fix the folder or leave out "
                          "--data-dir to download it into the cache")
    if _complete(cache_dir() / spec.folder, spec):
        return cache_dir() / spec.folder
    try:
        return download(spec, cache_dir())
    except (OSError, tarfile.TarError, KeyError) as err:
        raise ConfigError(f"{spec.name} not found in {cache_dir()} and could not be downloaded "
                          f"({err.__class__.__name__}: {err}); download {spec.url} yourself, "
                          "unpack it in a folder and pass --data-dir") from None


def load_cifar(spec: CifarSpec, data_dir: Path | None) -> ImageDataset:
    folder = locate(spec, data_dir)
    parts = [read_batch(folder / f, spec.label_key) for f in spec.train]
    train = ImageSplit(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))
    test = ImageSplit(*read_batch(folder / spec.test, spec.label_key))
    return ImageDataset(spec.name, train, test, spec.classes)


@DATASETS.register("cifar10")
def load_cifar10(data_dir: Path | None) -> ImageDataset:
    return load_cifar(CIFAR10, data_dir)


@DATASETS.register("cifar100")
def load_cifar100(data_dir: Path | None) -> ImageDataset:
    return load_cifar(CIFAR100, data_dir)
