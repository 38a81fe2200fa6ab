"""From a run's data settings to its three splits: the one place a run's data is prepared."""

from __future__ import annotations

from typing import Any

import torch

from monorobust.data.base import Splits, load_dataset, stratified_split


def split_indices(train_labels: torch.Tensor, data: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices into the dataset's original training split of the run's training and validation
    splits (``prepare_splits`` takes exactly these): per-sample side data in the dataset's order,
    such as CIFAR-N's human labels, follows them. Depends on the labels and ``data`` only."""
    n = len(train_labels)
    keep = torch.arange(n)
    if data.train_size and data.train_size < n:
        _, keep = stratified_split(train_labels, data.train_size / n, seed=0)
    train, held = stratified_split(train_labels[keep], data.val_fraction, seed=0)   # make_splits
    return keep[train], keep[held]


def prepare_splits(data: Any) -> Splits:
    """Load the dataset of ``data`` (a ``DataConfig``), subsample it as configured and hold out
    the validation split. The same settings give the same splits in every process."""
    ds = load_dataset(data.name, data.data_dir, data.image_size, data.channels)
    train_idx, val_idx = split_indices(ds.train.labels, data)
    if data.test_size and data.test_size < len(ds.test):
        _, keep = stratified_split(ds.test.labels, data.test_size / len(ds.test), seed=0)
        ds = ds._replace(test=ds.test.subset(keep))
    return Splits(ds.train.subset(train_idx), ds.train.subset(val_idx), ds.test, ds.classes)
