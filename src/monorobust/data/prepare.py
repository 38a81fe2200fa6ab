"""From a run's data settings to its three splits: the one place a run's data is prepared."""

from __future__ import annotations

from typing import Any

from monorobust.data.base import Splits, load_dataset, make_splits, stratified_split


def prepare_splits(data: Any) -> Splits:
    """Load the dataset of ``data`` (a ``DataConfig``), subsample it as configured and hold out
    the validation split. The same settings give the same splits in every process."""
    ds = load_dataset(data.name, data.data_dir, data.image_size, data.channels)
    if data.train_size and data.train_size < len(ds.train):
        _, keep = stratified_split(ds.train.labels, data.train_size / len(ds.train), seed=0)
        ds = ds._replace(train=ds.train.subset(keep))
    if data.test_size and data.test_size < len(ds.test):
        _, keep = stratified_split(ds.test.labels, data.test_size / len(ds.test), seed=0)
        ds = ds._replace(test=ds.test.subset(keep))
    return make_splits(ds, data.val_fraction, seed=0)
