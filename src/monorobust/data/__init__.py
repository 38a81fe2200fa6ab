"""Named datasets as uint8 image tensors and int64 labels (see ``DATASETS``)."""

from monorobust.data import (  # noqa: F401  (register the datasets)
    arrays, cifar, digits, fashion_mnist, image_folder, imagenet100,
)
from monorobust.data.base import (
    DATASETS, ImageDataset, ImageSplit, Splits, check_dataset, load_dataset, make_splits, reads_file,
    stratified_split,
)

__all__ = ["DATASETS", "ImageDataset", "ImageSplit", "Splits", "check_dataset", "load_dataset", "make_splits",
           "reads_file", "stratified_split"]
