"""Symmetric label noise with an exact, recorded rate."""

from __future__ import annotations

from typing import NamedTuple

import torch

from monorobust.checks import check_labels
from monorobust.errors import ConfigError
from monorobust.fields import FieldError


class NoisyLabels(NamedTuple):
    labels: torch.Tensor
    """(N,) int64, the labels after noise."""
    flipped: torch.Tensor
    """(N,) bool, True where the label was changed."""

    @property
    def realised_rate(self) -> float:
        return int(self.flipped.sum()) / len(self.flipped) if len(self.flipped) else 0.0


def check_label_noise_rate(rate: float, num_classes: int) -> None:
    """Raise unless ``0 <= rate < (C-1)/C``, where the true label stays the most frequent."""
    if num_classes < 2:
        raise ConfigError(f"num_classes must be >= 2, got {num_classes}")
    if (problem := _rate_problem(rate, num_classes)) is not None:
        raise ConfigError(f"label-noise rate {rate} {problem}")


def _rate_problem(rate: float, num_classes: int) -> str | None:
    """Why ``rate`` cannot be symmetric label noise for C classes (None: it can)."""
    limit = (num_classes - 1) / num_classes
    if 0.0 <= rate < limit:                 # False for NaN too
        return None
    return (f"must be in [0, {limit:.3f}) for {num_classes} classes (at (C-1)/C and above the "
            "true label is no longer the most frequent one); lower it")


def check_label_rates(key: str, rates: tuple[float, ...], num_classes: int) -> None:
    """``check_label_noise_rate`` for each of a config field's ``rates``, as a ``FieldError``
    under ``key`` (``superposition.label_rates``), which the command line reports as its flag."""
    for rate in rates:
        if (problem := _rate_problem(rate, num_classes)) is not None:
            raise FieldError(key, f"holds {rate}, which {problem}", key.rsplit(".", 1)[-1])


def symmetric_label_noise(labels: torch.Tensor, rate: float, num_classes: int,
                          generator: torch.Generator) -> NoisyLabels:
    """Move exactly ``round(rate * N)`` labels, chosen uniformly, to a uniformly drawn *other* class.

    Args:
        labels: (N,) int64 in [0, num_classes).
        rate: share of labels to change, in [0, (C-1)/C).
        num_classes: C >= 2.
        generator: the only source of randomness (the global RNG is never touched).

    Returns:
        ``NoisyLabels``; ``realised_rate`` equals ``round(rate * N) / N``. A changed label never
        equals the true one: the new class is ``(y + U{1..C-1}) mod C``.
    """
    check_label_noise_rate(rate, num_classes)
    labels = check_labels(labels, "labels", num_classes)
    n = labels.shape[0]
    n_flip = int(round(rate * n))
    chosen = torch.randperm(n, generator=generator)[:n_flip]
    shift = torch.randint(1, num_classes, (n_flip,), generator=generator)
    noisy = labels.clone()
    noisy[chosen] = (labels[chosen] + shift) % num_classes
    flipped = torch.zeros(n, dtype=torch.bool)
    flipped[chosen] = True
    return NoisyLabels(noisy, flipped)
