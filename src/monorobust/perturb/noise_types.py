"""Label-noise types by name, each entry carrying its facts (the scenario-registry pattern).

    from monorobust.perturb import LABEL_NOISE_TYPES
    kind = LABEL_NOISE_TYPES.get("pairflip")
    kind.check(0.4, num_classes=10)                       # ConfigError before any work
    noisy = kind.apply(labels, 0.4, 10, generator)        # NoisyLabels, exact realised rate

Every type changes exactly ``round(rate * N)`` labels and never to the true class, so rows of
different types at one rate carry the same realised rate and differ only in *which* labels move
and *where to*. ``apply`` takes the context every type might need (a pair mapping, the reference
probabilities); a type ignores what it does not use and names what it misses.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from monorobust.errors import ConfigError
from monorobust.perturb.instance_noise import instance_label_noise
from monorobust.perturb.label_noise import NoisyLabels, check_label_noise_rate, symmetric_label_noise
from monorobust.perturb.pairflip import check_single_target_rate, pairflip_label_noise
from monorobust.registry import Registry


class LabelNoiseType:
    """Base class: facts as class attributes, ``check`` and ``apply`` as methods."""

    name: ClassVar[str]
    title: ClassVar[str]
    """Its name in the report."""
    description: ClassVar[str]
    """One line: which labels move, and where to."""
    reference: ClassVar[str]
    """The published recipe it follows."""
    class_conditional: ClassVar[bool]
    """True: the chance of a flip depends only on the true class (not on the sample)."""
    needs_reference: ClassVar[bool] = False
    """True: ``apply`` needs ``probs``, a reference classifier's (N, C) probabilities."""

    def max_rate(self, num_classes: int) -> float:
        """The rate (exclusive) at which a wrong label becomes as frequent as the true one."""
        raise NotImplementedError

    def check(self, rate: float, num_classes: int) -> None:
        raise NotImplementedError

    def apply(self, labels: torch.Tensor, rate: float, num_classes: int,
              generator: torch.Generator, probs: torch.Tensor | None = None,
              mapping: Any = None) -> NoisyLabels:
        raise NotImplementedError


LABEL_NOISE_TYPES: Registry[LabelNoiseType] = Registry("label-noise type")


def register(cls: type[LabelNoiseType]) -> type[LabelNoiseType]:
    LABEL_NOISE_TYPES.register(cls.name)(cls())
    return cls


@register
class Symmetric(LabelNoiseType):
    name, title = "symmetric", "symmetric"
    description = "uniformly chosen labels move to a uniformly chosen other class"
    reference = "the paper's protocol (Zhang et al. 2025; van Rooyen et al. 2015)"
    class_conditional = True

    def max_rate(self, num_classes):
        return (num_classes - 1) / num_classes

    def check(self, rate, num_classes):
        check_label_noise_rate(rate, num_classes)

    def apply(self, labels, rate, num_classes, generator, probs=None, mapping=None):
        return symmetric_label_noise(labels, rate, num_classes, generator)


class _SingleTarget(LabelNoiseType):
    """Noise that moves each flipped label to one other class: at a rate of 1/2 that class would
    be as frequent as the true one, so rates stay below it whatever C is."""

    def max_rate(self, num_classes):
        return 0.5

    def check(self, rate, num_classes):
        check_single_target_rate(rate, num_classes)


@register
class PairFlip(_SingleTarget):
    name, title = "pairflip", "pair-flip"
    description = "uniformly chosen labels of class i move to one fixed class (i+1 mod C, or a map)"
    reference = "Han et al. 2018, Co-teaching (NeurIPS)"
    class_conditional = True

    def apply(self, labels, rate, num_classes, generator, probs=None, mapping=None):
        return pairflip_label_noise(labels, rate, num_classes, generator, mapping)


@register
class Instance(_SingleTarget):
    name, title = "instance", "instance-dependent"
    description = ("the samples a reference classifier finds hardest move to their most "
                   "confusable class")
    reference = "Chen et al. 2021, Beyond Class-Conditional Assumption (AAAI), their IDN recipe"
    class_conditional = False
    needs_reference = True

    def apply(self, labels, rate, num_classes, generator, probs=None, mapping=None):
        if probs is None:
            raise ConfigError("instance label noise needs probs, a reference classifier's (N, C) "
                              "probabilities (monorobust.perturb.reference_probs)")
        return instance_label_noise(labels, rate, num_classes, generator, probs)
