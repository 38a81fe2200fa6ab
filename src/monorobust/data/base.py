"""Dataset types and the dataset registry.

Every dataset is a pair of in-memory splits of uint8 images ``(N, C, H, W)`` and int64 labels
``(N,)``. Images become floats in [0, 1] only on the model's device; normalisation happens inside
the model (``models.Normalize``), so perturbations act in pixel space.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch

from monorobust.checks import check_images, check_labels
from monorobust.errors import ConfigError
from monorobust.registry import Registry


class ImageSplit(NamedTuple):
    images: torch.Tensor
    """(N, C, H, W) uint8."""
    labels: torch.Tensor
    """(N,) int64 in [0, num_classes)."""

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: torch.Tensor) -> "ImageSplit":
        return ImageSplit(self.images[index], self.labels[index])


class ImageDataset(NamedTuple):
    name: str
    train: ImageSplit
    test: ImageSplit
    classes: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train.images.shape[1:]
        return int(c), int(h), int(w)


Loader = Callable[[Path | None], ImageDataset]
DATASETS: Registry[Loader] = Registry("dataset")


def reads_file(name: str) -> bool:
    """Whether dataset ``name`` reads ``data_dir`` as one file (``arrays``: an .npz) rather than
    a folder; a loader says so with the attribute ``reads_file = True``."""
    return bool(getattr(DATASETS.get(name), "reads_file", False))


def cache_dir() -> Path:
    """Where downloads and decoded images are kept: ``$MONOROBUST_CACHE`` or ~/.cache/monorobust."""
    import os

    return Path(os.environ.get("MONOROBUST_CACHE", Path.home() / ".cache" / "monorobust"))


def load_dataset(name: str, data_dir: str | Path | None = None,
                 image_size: int | None = None, channels: int | None = None) -> ImageDataset:
    """Load a registered dataset by name, reading from ``data_dir`` where given.

    ``image_size``: the resolution to decode at, for datasets read from image files (their
    loader takes an ``image_size`` argument); None keeps the dataset's own. ``channels`` (1 or
    3) likewise for loaders that take it; None: the dataset's own (``folder``: inferred).
    """
    import inspect

    loader = DATASETS.get(name)
    path = Path(data_dir).expanduser() if data_dir is not None else None
    if reads_file(name):
        if path is not None and not path.is_file():
            raise ConfigError(f"data_dir {str(path)!r} does not exist or is not a file; dataset "
                              f"{name!r} reads one file: pass it with --data-dir FILE")
    elif path is not None and not path.is_dir():
        raise ConfigError(f"data_dir {str(path)!r} does not exist or is not a directory; "
                          "pass an existing folder with --data-dir or leave it out")
    params = inspect.signature(loader).parameters
    if image_size is not None and "image_size" not in params:
        raise ConfigError(f"dataset {name!r} has a fixed resolution; leave data.image_size null")
    if channels is not None and "channels" not in params:
        raise ConfigError(f"dataset {name!r} has a fixed number of channels; leave data.channels null")
    options = {k: v for k, v in (("image_size", image_size), ("channels", channels)) if v is not None}
    ds = loader(path, **options)
    check_dataset(ds)
    return ds


MIN_IMAGE_SIDE = 8
"""The smallest image side the pipelines take: crops, blurs, ImageNet-C corruptions and the
encoders' downsampling all need a few pixels (digits, the smallest dataset here, are 8x8)."""


def check_dataset(ds: ImageDataset) -> None:
    """Shape and range checks that catch a malformed data directory early."""
    for split_name, split in (("train", ds.train), ("test", ds.test)):
        check_images(split.images, f"{ds.name} {split_name} images")
        height, width = split.images.shape[-2:]
        if min(height, width) < MIN_IMAGE_SIDE:
            raise ConfigError(f"{ds.name} {split_name} images are {height}x{width} pixels; "
                              f"monorobust needs at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE} "
                              "(crops, blurs, corruptions and encoders shrink them): resize them")
        check_labels(split.labels, f"{ds.name} {split_name} labels", ds.num_classes,
                     n=split.images.shape[0])
        if split.labels.dtype != torch.int64:
            raise ConfigError(f"{ds.name} {split_name} labels are {split.labels.dtype}; an "
                              "ImageDataset holds int64 class indices: pass labels.long()")
        # In memory only (a streamed split is read once per epoch, not here). Identical images
        # made it through pretraining and failed minutes later as "SAE input has no variance".
        if isinstance(split.images, torch.Tensor) and _all_the_same(split.images):
            raise ConfigError(f"{ds.name} {split_name} images are all the same ({len(split.images)} "
                              "copies of one image, e.g. all black): nothing tells the classes "
                              "apart; check how the images were exported")


def _all_the_same(images: torch.Tensor, chunk: int = 4096) -> bool:
    """Whether all of the (at least two) images equal the first; chunked, and real data differs
    within the first chunk, so it costs next to nothing."""
    first = images[:1]
    return len(images) > 1 and all(bool((images[i:i + chunk] == first).all())
                                   for i in range(0, len(images), chunk))


def stratified_split(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(keep, held_out)``: ``fraction`` of each class held out, chosen with ``seed``.

    The same seed always holds out the same samples, whatever else the run does.
    """
    gen = torch.Generator().manual_seed(seed)
    keep, held = [], []
    for c in labels.unique(sorted=True):
        idx = torch.nonzero(labels == c).squeeze(1)
        idx = idx[torch.randperm(len(idx), generator=gen)]
        n_held = int(round(fraction * len(idx)))
        held.append(idx[:n_held])
        keep.append(idx[n_held:])
    return torch.cat(keep).sort().values, torch.cat(held).sort().values


class Splits(NamedTuple):
    """Train / validation / test, the validation split held out of the original training data."""

    train: ImageSplit
    val: ImageSplit
    test: ImageSplit
    classes: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def make_splits(ds: ImageDataset, val_fraction: float, seed: int = 0) -> Splits:
    """Hold ``val_fraction`` of the training data out as a validation split (stratified)."""
    keep, held = stratified_split(ds.train.labels, val_fraction, seed)
    return Splits(ds.train.subset(keep), ds.train.subset(held), ds.test, ds.classes)
