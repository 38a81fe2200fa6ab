"""Your own images: ``--dataset folder --data-dir DIR`` reads an image folder::

    DIR/train/<class>/*        one folder per class, any format PIL reads
    DIR/test/<class>/*         (or DIR/val/<class>/*; test/ wins when both exist)

Class names are the folder names (sorted; labels follow that order), the same set in both
splits. Images are decoded at ``data.image_size`` (default ``DEFAULT_SIZE`` = 32 px: the
shorter side resized, bilinear, then the centre square) with ``data.channels`` channels (1: grey,
3: RGB; default: those of the first training image, in sorted order). Normalisation is that of
every dataset: pretraining measures the per-channel mean and std of the training split
(``train.pretrain.channel_stats``) and stores them in the model (``models.Normalize``).

A split of at most ``CACHE_LIMIT_BYTES`` as uint8 is decoded once, in parallel
(``folder.decode_many``), into a safetensors file under ``cache_dir()/folders/``
(``$MONOROBUST_CACHE`` or ~/.cache/monorobust; never inside DIR, which may be read-only or
shared) named by a hash of the split's file list (relative paths, sizes, mtimes), the image
size, the channels and the decoding; a rerun, ``report`` or another subcommand loads that file
instead of decoding. Editing, adding or removing an image changes the hash, so the split is
decoded anew. A larger training split streams from disk through DataLoader workers, as
ImageNet-100 does (``FolderImages``); the test split is always decoded into memory (the
test-time perturbations need it there) and cached when it fits the limit.

The training images come in a fixed shuffled order (seed 0), not grouped by class, like the
built-in datasets, so statistics over the first images see every class.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from pathlib import Path

import torch

from monorobust.data import folder as files
from monorobust.data.base import DATASETS, MIN_IMAGE_SIDE, ImageDataset, ImageSplit, cache_dir
from monorobust.errors import ConfigError
from monorobust.io import CACHE_CHECKSUM, IntegrityWarning, tensor_checksum

DEFAULT_SIZE = 32
CACHE_LIMIT_BYTES = 2 * 1024 ** 3
"""Splits up to this size (N x C x S x S bytes) are decoded once and cached; larger ones stream."""
CACHE_VERSION = 1
"""Part of the cache key: bump it when decoding changes, so old caches are not reused."""
TEST_NAMES = ("test", "val")


def locate(data_dir: Path | None) -> tuple[Path, Path]:
    """``DIR/train`` and ``DIR/test`` (or ``DIR/val``)."""
    if data_dir is None:
        raise ConfigError("dataset 'folder' reads your image folder: pass --data-dir DIR with "
                          "DIR/train/<class>/* and DIR/test/<class>/*")
    tests = [data_dir / t for t in TEST_NAMES if (data_dir / t).is_dir()]
    if not (data_dir / "train").is_dir() or not tests:
        raise ConfigError(f"{data_dir} must hold train/<class>/* and test/<class>/* (or val/"
                          f"<class>/*), one folder per class; it has "
                          f"{', '.join(sorted(p.name + '/' for p in data_dir.iterdir() if p.is_dir())) or 'no folders'}")
    return data_dir / "train", tests[0]


def class_names(split_dir: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith("."))


def check_classes(train_dir: Path, test_dir: Path) -> tuple[str, ...]:
    """The class names, after checking both splits have the same set (at least two)."""
    train, test = class_names(train_dir), class_names(test_dir)
    only_train, only_test = sorted(set(train) - set(test)), sorted(set(test) - set(train))
    if only_train or only_test:
        parts = [f"only in {d}: {', '.join(c[:5])}{' ...' if len(c) > 5 else ''}"
                 for d, c in ((train_dir, only_train), (test_dir, only_test)) if c]
        raise ConfigError(f"class folders differ between the splits ({'; '.join(parts)}); every "
                          "class needs a folder in both, with the same name")
    if len(train) < 2:
        raise ConfigError(f"{train_dir} has {len(train)} class folder(s); at least 2 are needed "
                          "(one folder per class)")
    return tuple(train)


def scan(split_dir: Path, classes: tuple[str, ...]) -> tuple[list[str], torch.Tensor]:
    """Paths and labels of a split; every class needs at least 2 images."""
    paths, labels = files.scan_classes(split_dir, classes, files.pil_extensions())
    counts = torch.bincount(labels, minlength=len(classes))
    few = [(classes[c], int(n)) for c, n in enumerate(counts) if n < 2]
    if few:
        name, n = few[0]
        raise ConfigError(f"class folder {split_dir / name} has {n} image; every class needs at "
                          f"least 2 in each split (one may be held out for validation)"
                          + (f"; so do {len(few) - 1} more" if len(few) > 1 else ""))
    return paths, labels


def cache_key(paths: list[str], root: Path, size: int, channels: int) -> str:
    """Hash of the split's files (relative path, size, mtime) and of how they are decoded."""
    h = hashlib.sha256(json.dumps({"version": CACHE_VERSION, "size": size, "channels": channels,
                                   "decode": "shorter-side bilinear, centre crop"}).encode())
    skip = len(os.path.join(str(root), ""))   # paths are root/<class>/<file> (scan_classes)
    for p in paths:
        st = os.stat(p)
        h.update(f"{p[skip:]}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def cache_file(key: str) -> Path:
    return cache_dir() / "folders" / f"{key}.safetensors"


def _read_cache(path: Path, shape: tuple[int, ...], labels: torch.Tensor) -> torch.Tensor | None:
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        return None
    try:
        with safe_open(str(path), "pt") as f:
            expected = (f.metadata() or {}).get(CACHE_CHECKSUM)  # None: a cache from before checksums
            t = {k: f.get_tensor(k) for k in ("images", "labels")}
        images = t["images"]
        if tuple(images.shape) == shape and images.dtype == torch.uint8 and \
                torch.equal(t["labels"], labels) and expected in (None, tensor_checksum(t)):
            return images
    except (SafetensorError, OSError, KeyError):
        pass
    warnings.warn(f"image cache {path} is damaged; decoding the images again",
                  IntegrityWarning, stacklevel=3)
    return None


def _write_cache(path: Path, images: torch.Tensor, labels: torch.Tensor, root: Path) -> None:
    from safetensors.torch import save_file

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:    # save_file streams to disk (no second copy in memory); the rename makes it atomic
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {"images": images.contiguous(), "labels": labels.contiguous()}
        save_file(tensors, str(tmp), metadata={"source": str(root), CACHE_CHECKSUM: tensor_checksum(tensors)})
        os.replace(tmp, path)
    except OSError as err:      # a read-only cache costs a decode next time, not the run
        with contextlib.suppress(OSError):  # a file in the cache's path: no tmp file either
            tmp.unlink()
        warnings.warn(f"cannot write the image cache {path} ({err}); set MONOROBUST_CACHE to a "
                      "writable folder to skip decoding on the next run", stacklevel=3)


def load_split(paths: list[str], labels: torch.Tensor, root: Path, size: int, channels: int,
               stream: bool = False) -> ImageSplit:
    """A split decoded (from the cache when it is there) or, if ``stream`` and too large to
    cache, a lazy ``FolderImages``."""
    shape = (len(paths), channels, size, size)
    if stream and len(paths) * channels * size * size > CACHE_LIMIT_BYTES:
        return ImageSplit(files.FolderImages(paths, size, channels), labels)
    fits = len(paths) * channels * size * size <= CACHE_LIMIT_BYTES
    path = cache_file(cache_key(paths, root, size, channels)) if fits else None
    images = _read_cache(path, shape, labels) if path is not None else None
    if images is None:
        images = files.decode_many(paths, size, channels)
        if path is not None:
            _write_cache(path, images, labels, root)
    return ImageSplit(images, labels)


@DATASETS.register("folder")
def load_folder(data_dir: Path | None, image_size: int = DEFAULT_SIZE,
                channels: int | None = None) -> ImageDataset:
    if image_size < MIN_IMAGE_SIDE:
        raise ConfigError(f"data.image_size must be >= {MIN_IMAGE_SIDE} for dataset 'folder', "
                          f"got {image_size}")
    if channels not in (None, 1, 3):
        raise ConfigError(f"data.channels must be 1 or 3 (or null: inferred), got {channels}")
    train_dir, test_dir = locate(data_dir)
    classes = check_classes(train_dir, test_dir)
    train_paths, train_labels = scan(train_dir, classes)
    test_paths, test_labels = scan(test_dir, classes)
    channels = channels or files.image_channels(train_paths[0])
    train = load_split(train_paths, train_labels, train_dir, image_size, channels, stream=True)
    test = load_split(test_paths, test_labels, test_dir, image_size, channels)
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    return ImageDataset("folder", train.subset(order), test, classes)
