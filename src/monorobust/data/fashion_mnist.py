"""Fashion-MNIST (Xiao et al. 2017): 60k/10k greyscale 28x28 images of 10 clothing classes.

Looked for, in order: ``--data-dir`` (the four idx files in it, or in ``fashion-mnist/`` or
``FashionMNIST/raw/`` under it), the folder where Debian's ``dataset-fashion-mnist`` package
installs them, the download cache ``~/.cache/monorobust/fashion-mnist``, and finally a download
into that cache where the network allows.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

from monorobust.data.base import DATASETS, ImageDataset, ImageSplit
from monorobust.data.idx import read_idx
from monorobust.errors import ConfigError
from monorobust.io import atomic_write_bytes

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
URL = "https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/{}.gz"


def cache_dir() -> Path:
    root = os.environ.get("MONOROBUST_CACHE", Path.home() / ".cache" / "monorobust")
    return Path(root) / "fashion-mnist"


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _complete(folder: Path) -> list[Path] | None:
    found = [_find(folder, stem) for stem in FILES]
    return found if all(found) else None  # type: ignore[return-value]


def _download(folder: Path) -> list[Path]:
    for stem in FILES:
        if _find(folder, stem) is None:
            with urllib.request.urlopen(URL.format(stem), timeout=30) as response:
                atomic_write_bytes(folder / f"{stem}.gz", response.read())
    return _complete(folder)  # type: ignore[return-value]


def locate(data_dir: Path | None) -> list[Path]:
    """The four idx files, from the first place that has all of them."""
    if data_dir is not None:
        for folder in (data_dir, data_dir / "fashion-mnist", data_dir / "FashionMNIST" / "raw"):
            if files := _complete(folder):
                return files
        raise ConfigError(f"no Fashion-MNIST idx files ({', '.join(FILES)}, .gz or not) in "
                          f"{data_dir}; put them there or leave out --data-dir")
    for folder in (DEBIAN_DIR, cache_dir()):
        if files := _complete(folder):
            return files
    try:
        return _download(cache_dir())
    except OSError as err:
        raise ConfigError(
            "Fashion-MNIST not found and could not be downloaded "
            f"({err.__class__.__name__}); install it with `apt-get install dataset-fashion-mnist` "
            "(Debian/Ubuntu), or put the four idx files in a folder and pass --data-dir") from None


@DATASETS.register("fashion-mnist")
def load_fashion_mnist(data_dir: Path | None) -> ImageDataset:
    tr_x, tr_y, te_x, te_y = (read_idx(p) for p in locate(data_dir))
    return ImageDataset(
        "fashion-mnist",
        ImageSplit(tr_x.unsqueeze(1), tr_y.long()),
        ImageSplit(te_x.unsqueeze(1), te_y.long()),
        CLASSES,
    )
