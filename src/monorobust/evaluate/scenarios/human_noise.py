"""Real human label noise: the probe trains on CIFAR-10N / CIFAR-100N annotators' labels.

Wei et al. (ICLR 2022) relabelled CIFAR's 50,000 training images with Amazon Mechanical Turk
workers. Their official files, ``CIFAR-10_human.pt`` and ``CIFAR-100_human.pt`` from
https://github.com/UCSC-REAL/cifar-10-100n (folder ``data/``), go in the run's data directory
(``--data-dir``, beside ``cifar-10-batches-py/``). They hold NumPy label arrays in CIFAR's
original training order and are read with ``torch.load(weights_only=True)``.

The severity is an index into the dataset's label sets, in this fixed order (roughly the
published noise rates, increasing):

    cifar10:  0 aggre (9.0%), 1 random1 (17.2%), 2 random2 (18.1%), 3 random3 (17.6%), 4 worse (40.2%)
    cifar100: 0 noisy (40.2%)

The realised rate against the file's clean labels is recorded in every row. The validation
split carries the same human labels (as ``label_noise``: only noisy labels exist in that
setting). The run's splits are subsets of the original training order (``split_indices``), and
the human labels are taken at exactly those indices; the file's clean labels must then equal
the run's labels, which is checked.

``claim`` is None: the severity is a label set, not a rate, so its rows are shown in the report
but do not enter the synthetic label-noise verdict (whose primary severity is its largest rate).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from monorobust.errors import ConfigError
from monorobust.evaluate.scenarios.base import Phase, Scenario, TrainSet, register

LABEL_SETS: dict[str, tuple[str, ...]] = {
    "cifar10": ("aggre", "random1", "random2", "random3", "worse"),
    "cifar100": ("noisy",),
}
"""Severity i of a dataset is its i-th label set."""
FILES = {"cifar10": "CIFAR-10_human.pt", "cifar100": "CIFAR-100_human.pt"}
_KEYS = {"aggre": "aggre_label", "random1": "random_label1", "random2": "random_label2",
         "random3": "random_label3", "worse": "worse_label", "noisy": "noisy_label"}
SOURCE = "https://github.com/UCSC-REAL/cifar-10-100n (folder data/)"


def human_file(dataset: str, data_dir: str | Path | None) -> Path:
    if dataset not in FILES:
        raise ConfigError(f"grid.scenarios.human_noise needs data.name cifar10 or cifar100 "
                          f"(CIFAR-N labels), got {dataset!r}; remove the scenario")
    if data_dir is None:
        raise ConfigError(f"grid.scenarios.human_noise reads {FILES[dataset]} from the data "
                          f"directory: pass --data-dir DIR with the file in it (from {SOURCE})")
    return Path(data_dir).expanduser() / FILES[dataset]


def _numpy_globals() -> list:
    """What rebuilding integer NumPy arrays needs and nothing more (the official files hold
    arrays pickled under NumPy 1's module names, hence the aliases)."""
    reconstruct = np._core.multiarray._reconstruct
    dtypes = [type(np.dtype(t)) for t in (np.int64, np.int32, np.int16, np.int8, np.uint8)]
    return [reconstruct, (reconstruct, "numpy.core.multiarray._reconstruct"), np.ndarray,
            np.dtype, *dtypes]


def load_human_labels(dataset: str, data_dir: str | Path | None) -> dict[str, torch.Tensor]:
    """Label set name (and "clean") -> int64 labels (50,000,) in CIFAR's training order."""
    path = human_file(dataset, data_dir)
    if not path.is_file():
        raise ConfigError(f"{path} not found: grid.scenarios.human_noise needs the official "
                          f"{path.name} from {SOURCE} in --data-dir")
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            doc = torch.load(path, weights_only=True)
    except Exception as err:  # noqa: BLE001  (any failure to load means a bad file)
        raise ConfigError(f"{path} could not be read ({err.__class__.__name__}); download "
                          f"{path.name} again from {SOURCE}") from None
    out = {}
    for name in ("clean", *LABEL_SETS[dataset]):
        key = "clean_label" if name == "clean" else _KEYS[name]
        if not isinstance(doc, dict) or key not in doc:
            raise ConfigError(f"{path} has no {key!r}; it is not {path.name} from {SOURCE}")
        out[name] = torch.as_tensor(np.asarray(doc[key], dtype=np.int64))
    return out


@register
class HumanNoise(Scenario):
    name, phase, title, severity_name = "human_noise", Phase.TRAIN, "human label noise", "label set"
    axis = "CIFAR-N label set (0 aggre .. 4 worse; CIFAR-100N: 0 noisy)"
    claim, primary = None, max
    defaults = (0, 4)
    integer_severity = True
    needs_data = True
    """``train_set`` takes the run's ``DataConfig`` as ``data=``."""

    def check(self, severities, num_classes, min_class_size=None, min_val_class_size=None):
        super().check(severities, num_classes)
        most = {10: 4, 100: 0}.get(num_classes, 4) if num_classes else 4
        for s in severities:
            if s > most:
                raise ConfigError(f"grid.scenarios.human_noise: label set {int(s)} does not exist "
                                  f"(0..{most}; cifar10: aggre, random1..3, worse; cifar100: noisy)")

    def check_data(self, data) -> None:
        """Before any work: the dataset has CIFAR-N labels and the file is there and loads."""
        load_human_labels(data.name, data.data_dir)

    def train_set(self, train_labels, val_labels, severity, num_classes, gen, data=None) -> TrainSet:
        from monorobust.data.prepare import split_indices

        if data is None:
            raise ConfigError("human_noise needs the run's data settings (the dataset's order); "
                              "it runs in `monorobust run`, not on bare features")
        sets = load_human_labels(data.name, data.data_dir)
        names = LABEL_SETS[data.name]
        if int(severity) >= len(names):
            raise ConfigError(f"grid.scenarios.human_noise: {data.name} has label sets "
                              f"{', '.join(f'{i} {n}' for i, n in enumerate(names))}; got {severity:g}")
        clean, noisy = sets["clean"], sets[names[int(severity)]]
        path = human_file(data.name, data.data_dir)
        n_run = len(train_labels) + len(val_labels)
        exact = not data.train_size     # without subsampling the run uses every training image
        if len(noisy) != len(clean) or (exact and len(clean) != n_run):
            raise ConfigError(f"{path} holds {len(clean)} clean and {len(noisy)} human labels, "
                              f"the training split of {data.name} here has {n_run} images; use "
                              f"the file that matches this dataset (from {SOURCE})")
        train_idx, val_idx = split_indices(clean, data)
        if len(train_idx) != len(train_labels) or len(val_idx) != len(val_labels) \
                or not torch.equal(clean[train_idx], train_labels.cpu()) \
                or not torch.equal(clean[val_idx], val_labels.cpu()):
            raise ConfigError(f"{path}'s clean labels do not match {data.name}'s training split "
                              f"in its original order; use the file that matches this dataset "
                              f"(from {SOURCE})")
        train_y, val_y = noisy[train_idx], noisy[val_idx]
        realised = float((train_y != clean[train_idx]).double().mean())
        return TrainSet(torch.arange(len(train_labels)), train_y,
                        torch.arange(len(val_labels)), val_y, realised)
