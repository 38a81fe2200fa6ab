"""Pair-flip label noise: each class is confused with one fixed other class.

Annotators confuse similar classes (shirt / T-shirt, cat / dog), so real noise is rarely
symmetric. Pair-flip is the standard class-conditional model of that (Han et al. 2018,
"Co-teaching"): a flipped label of class i always becomes ``mapping[i]``, by default
``(i + 1) mod C``. As in ``symmetric_label_noise``, exactly ``round(rate * N)`` labels, chosen
uniformly, are changed, so the realised rate is exact and recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from monorobust.checks import check_labels
from monorobust.errors import ConfigError
from monorobust.perturb.label_noise import NoisyLabels


def check_single_target_rate(rate: float, num_classes: int, what: str = "rate") -> None:
    """Raise unless ``0 <= rate < 1/2``.

    When every flipped label of a class goes to one class, that class overtakes the true label
    at a rate of 1/2 (the noise transition matrix stops being diagonally dominant), whatever C is.
    """
    if num_classes < 2:
        raise ConfigError(f"num_classes must be >= 2, got {num_classes}")
    if not 0.0 <= rate < 0.5:               # also False for NaN
        raise ConfigError(f"label-noise {what} {rate} must be in [0, 0.5) when each class's flips "
                          "go to a single other class (at 1/2 the wrong class is as frequent as "
                          "the true one); lower it")


def pair_mapping(num_classes: int,
                 mapping: Sequence[int] | Mapping[int, int] | torch.Tensor | None = None) -> torch.Tensor:
    """The (C,) int64 target class of each class: ``(i + 1) mod C`` by default.

    ``mapping`` may be a sequence of C classes, a tensor, or a dict {class: target}; classes a
    dict leaves out keep the default target. A class mapped to itself is refused (it would
    "flip" without changing the label, and the realised rate would be wrong).
    """
    default = (torch.arange(num_classes) + 1) % num_classes
    if mapping is None:
        return default
    if isinstance(mapping, Mapping):
        target = default.clone()
        for k, v in mapping.items():
            if not 0 <= int(k) < num_classes:
                raise ConfigError(f"mapping: class {k} is out of range for {num_classes} classes")
            target[int(k)] = int(v)
    else:
        target = torch.as_tensor(list(mapping) if not isinstance(mapping, torch.Tensor) else mapping)
        if target.shape != (num_classes,):
            raise ConfigError(f"mapping must give one target class per class ({num_classes}), got "
                              f"shape {tuple(target.shape)}")
    target = check_labels(target, "mapping", num_classes)
    same = (target == torch.arange(num_classes)).nonzero().squeeze(1)
    if len(same):
        raise ConfigError(f"mapping sends class {int(same[0])} to itself; map every class to "
                          "another class")
    return target


def pairflip_label_noise(labels: torch.Tensor, rate: float, num_classes: int,
                         generator: torch.Generator,
                         mapping: Sequence[int] | Mapping[int, int] | torch.Tensor | None = None,
                         ) -> NoisyLabels:
    """Move exactly ``round(rate * N)`` labels, chosen uniformly, to their class's mapped class.

    Args:
        labels: (N,) int64 in [0, num_classes).
        rate: share of labels to change, in [0, 1/2).
        num_classes: C >= 2.
        generator: the only source of randomness (which labels are changed).
        mapping: target class per class (see ``pair_mapping``); default ``(i + 1) mod C``.

    Returns:
        ``NoisyLabels`` with ``realised_rate == round(rate * N) / N``; a changed label of true
        class i equals ``mapping[i]``.
    """
    check_single_target_rate(rate, num_classes)
    labels = check_labels(labels, "labels", num_classes)
    target = pair_mapping(num_classes, mapping)
    n = labels.shape[0]
    chosen = torch.randperm(n, generator=generator)[:int(round(rate * n))]
    noisy = labels.clone()
    noisy[chosen] = target[labels[chosen]]
    flipped = torch.zeros(n, dtype=torch.bool)
    flipped[chosen] = True
    return NoisyLabels(noisy, flipped)
