"""Data regimes: the probe trains on ``n`` labelled examples per class (or on all of them).

With a few hundred labelled images per class the balance between memorising noisy labels and
learning the signal differs from the full-data setting (the paper's CIFAR-100 has 500 per class
in 2,048 dimensions), so a study repeats its points at several ``n``. The subset is stratified
and drawn per seed; label noise is applied *after* drawing it, so the realised rate is exact on
the examples the probe actually sees.
"""

from __future__ import annotations

import torch

from monorobust.checks import check_labels
from monorobust.errors import ConfigError
from monorobust.perturb.few_shot import few_shot_indices


def regime_indices(labels: torch.Tensor, n_per_class: int | None, num_classes: int,
                   generator: torch.Generator) -> torch.Tensor:
    """Sorted (C * n,) indices of ``n_per_class`` examples of every class; ``None``: all (N,).

    Draw one generator per seed and regime, e.g.
    ``torch.Generator().manual_seed(derive_seed(seed, "regime", n))``, so that every noise type
    and protocol of that seed and regime shares the subset (and its probes can be batched).
    """
    labels = check_labels(labels, "labels", num_classes)
    if n_per_class is None:
        return torch.arange(len(labels))
    smallest = int(torch.bincount(labels, minlength=num_classes).min())
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, int) or not 1 <= n_per_class <= smallest:
        raise ConfigError(f"n_per_class must be an integer between 1 and the smallest class size "
                          f"({smallest}), or None for all examples; got {n_per_class!r}")
    return few_shot_indices(labels, n_per_class, num_classes, generator)
