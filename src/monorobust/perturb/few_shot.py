"""Few-shot subsets: k labelled examples per class."""

from __future__ import annotations

import torch

from monorobust.checks import check_labels
from monorobust.errors import ConfigError


def few_shot_indices(labels: torch.Tensor, k: int, num_classes: int,
                     generator: torch.Generator) -> torch.Tensor:
    """Sorted indices of ``k`` examples of every class, drawn uniformly without replacement.

    Raises ``ConfigError`` if some class has fewer than ``k`` examples.
    """
    labels = check_labels(labels, "labels", num_classes)
    counts = torch.bincount(labels, minlength=num_classes)
    if k < 1 or k > int(counts.min()):
        raise ConfigError(f"few-shot k={k} must be between 1 and the smallest class size "
                          f"({int(counts.min())}); lower k")
    picked = []
    for c in range(num_classes):
        idx = torch.nonzero(labels == c).squeeze(1)
        picked.append(idx[torch.randperm(len(idx), generator=generator)[:k]])
    return torch.cat(picked).sort().values
