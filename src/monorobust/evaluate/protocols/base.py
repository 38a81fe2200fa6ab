"""Probe protocols: complete recipes for training the linear probe, registered by name.

A verdict about monosemantic vs polysemantic features belongs to the probe that produced it:
a probe selected on validation (early stopping) hides the memorisation of noisy labels that a
probe trained to the end of a fixed schedule shows, and reviewers ask whether an L2 penalty or a
noise-robust loss would give the same gains. Each protocol fixes every such choice, and declares
them on its registry entry (the scenario-registry pattern): the loss, how the kept weights are
selected, the preprocessing of the features.

Every protocol trains K probes on shared features at once (``evaluate.batched.train_probes``:
one label vector per noise type, rate or draw) from a base ``ProbeConfig`` (the run's ``probe``
section: optimiser, lr, batch size, steps), and returns them in the *original* feature space,
so the caller scores test features the same way whatever the protocol::

    fit = PROTOCOLS.get("standardised").fit(train_x, labels_kn, val_x, val_labels_km, C, cfg, seed)
    accuracy = fit.probes[k].accuracy(test_x, test_y)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import ClassVar, NamedTuple

import torch

from monorobust.evaluate.batched import train_probes
from monorobust.evaluate.config import ProbeConfig
from monorobust.evaluate.probe import Probe
from monorobust.registry import Registry


class ProtocolFit(NamedTuple):
    probes: list[Probe]
    """K probes, one per label vector, acting on the original (unpreprocessed) features."""
    l2: list[float]
    """The L2 strength each probe was trained with (``tuned-l2``: the one validation chose)."""


class ProbeProtocol:
    """Base class: facts as class attributes, the recipe in ``fit``."""

    name: ClassVar[str]
    description: ClassVar[str]
    """One line, for the report's legend."""
    loss: ClassVar[str] = "cross-entropy"
    """The training loss, with its parameters."""
    selection: ClassVar[str]
    """How the kept weights are chosen (which step; which hyperparameter)."""
    preprocessing: ClassVar[str] = "none"
    """What is done to the features before training."""
    uses_validation: ClassVar[bool]
    """True: the validation labels choose something (a step or a hyperparameter)."""
    select: ClassVar[str] = "last"
    """The default recipe's step selection (``ProbeConfig.select``): "val" or "last"."""
    loss_fn: ClassVar[Callable[..., torch.Tensor] | None] = None
    """The default recipe's loss (logits (..., C), targets (...)); None: cross-entropy."""

    def fit(self, train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor,
            val_y: torch.Tensor, num_classes: int, cfg: ProbeConfig, seed: int) -> ProtocolFit:
        """K probes: ``train_x`` (N, D), ``train_y`` (K, N) or (N,), ``val_x`` (M, D),
        ``val_y`` (K, M) or (M,); ``cfg`` the base probe config; ``seed`` the minibatch order.

        The default recipe: the base config's optimiser, lr and schedule, with this protocol's
        ``select`` and ``loss_fn``, no preprocessing, no penalty."""
        loss_fn = type(self).loss_fn            # a plain function, not bound to the instance
        probes = train_probes(train_x, train_y, val_x, val_y, num_classes,
                              replace(cfg, select=self.select), seed, loss_fn=loss_fn)
        return ProtocolFit(probes, [0.0] * n_probes(train_y))


PROTOCOLS: Registry[ProbeProtocol] = Registry("probe protocol")


def register(cls: type[ProbeProtocol]) -> type[ProbeProtocol]:
    PROTOCOLS.register(cls.name)(cls())
    return cls


def n_probes(train_y: torch.Tensor) -> int:
    return train_y.shape[0] if train_y.ndim == 2 else 1
