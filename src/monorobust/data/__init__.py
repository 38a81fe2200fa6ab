"""Named datasets as uint8 image tensors and int64 labels (see ``DATASETS``)."""

from monorobust.data import cifar, digits, fashion_mnist, imagenet100  # noqa: F401  (register the datasets)
from monorobust.data.base import (
    DATASETS, ImageDataset, ImageSplit, Splits, check_dataset, load_dataset, make_splits, stratified_split,
)

__all__ = ["DATASETS", "ImageDataset", "ImageSplit", "Splits", "check_dataset", "load_dataset", "make_splits",
           "stratified_split"]
