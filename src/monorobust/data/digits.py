"""scikit-learn's digits: 1,797 greyscale 8x8 images of 10 digits (for fast tests).

There is no official test split; a fixed stratified 25% (seed 0) is held out as test.
"""

from __future__ import annotations

from pathlib import Path

import torch

from monorobust.data.base import DATASETS, ImageDataset, ImageSplit, stratified_split
from monorobust.errors import ConfigError


@DATASETS.register("digits")
def load_digits(data_dir: Path | None = None) -> ImageDataset:
    from sklearn.datasets import load_digits as sk_load_digits

    if data_dir is not None:        # never record a folder that was not read
        raise ConfigError(f"dataset 'digits' ships with scikit-learn and reads no folder; leave "
                          f"out --data-dir {data_dir} (or pick a dataset that reads one)")

    bunch = sk_load_digits()
    # Pixel values are 0..16; scale to the full uint8 range.
    images = torch.from_numpy(bunch.images * (255.0 / 16.0)).round().to(torch.uint8).unsqueeze(1)
    labels = torch.from_numpy(bunch.target).long()
    train_idx, test_idx = stratified_split(labels, 0.25, seed=0)
    full = ImageSplit(images, labels)
    return ImageDataset("digits", full.subset(train_idx), full.subset(test_idx),
                        tuple(str(d) for d in range(10)))
