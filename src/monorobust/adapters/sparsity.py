"""The share of zero adapter activations, measured with forward hooks.

What counts as the adapter's activation, per adapted layer and adapter:

- MonoLoRA, ``relu_position="code"``: the r-dim code ``relu(A x)``; zero where ``A x <= 0``.
- MonoLoRA, ``relu_position="output"``: the update ``relu(B A x + b)``; zero where ``B A x + b <= 0``.
- plain LoRA: the r-dim code ``A x``; zero where it is exactly 0 (so dense LoRA reads about 0).

Only real tokens count: when an ``attention_mask`` (batch, seq) is given, positions where it is 0
(padding) are left out. Dropout is off in ``eval()`` mode, which is where this should be measured.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Optional

import torch
from torch import nn


@dataclass
class SparsityMeter:
    """Counts of zero and total adapter activations, accumulated over forward passes."""

    zeros: int = 0
    """Number of zero activations seen."""
    total: int = 0
    """Number of activations seen."""
    mask: Optional[torch.Tensor] = field(default=None, repr=False)
    """(batch, seq) attention mask of the batch being run; set by ``measure``/``set_mask``."""

    @property
    def share(self) -> float:
        """Share of zero activations in [0, 1] (``nan`` before anything was measured)."""
        return self.zeros / self.total if self.total else float("nan")

    def set_mask(self, mask: Optional[torch.Tensor]) -> None:
        """Declare which positions of the next batch are real tokens (1) or padding (0)."""
        self.mask = None if mask is None else mask.bool()

    def add(self, is_zero: torch.Tensor) -> None:
        """``is_zero``: (..., width) bool. Leading (batch, seq) dims are masked if a mask is set."""
        if self.mask is not None and is_zero.dim() >= 3 and tuple(is_zero.shape[:2]) == tuple(self.mask.shape):
            is_zero = is_zero[self.mask]                       # (tokens, width)
        self.zeros += int(is_zero.sum())
        self.total += is_zero.numel()


def _adapter_sites(model: nn.Module) -> Iterator[tuple[nn.Module, bool]]:
    """(module whose output is the activation, zero means ``<= 0`` rather than ``== 0``) per adapter."""
    from peft.tuners.lora.layer import LoraLayer

    for module in model.modules():
        if not isinstance(module, LoraLayer):
            continue
        positions: Mapping[str, Any] = getattr(module, "relu_position", {})
        for name in module.active_adapters:
            if name not in module.lora_A:
                continue
            position = positions.get(name)
            if position == "output":
                yield module.lora_B[name], True
            else:
                yield module.lora_A[name], position == "code"


@contextmanager
def sparsity_meter(model: nn.Module) -> Iterator[SparsityMeter]:
    """Within the block, every forward pass of ``model`` adds to the yielded meter.

    Example::

        with sparsity_meter(peft_model) as meter:
            for batch in loader:
                meter.set_mask(batch["attention_mask"])
                peft_model(**batch)
        print(meter.share)
    """
    meter = SparsityMeter()
    handles = []
    for site, rectified in _adapter_sites(model):
        def hook(_m: nn.Module, _inp: Any, out: torch.Tensor, rectified: bool = rectified) -> None:
            meter.add(out.detach() <= 0 if rectified else out.detach() == 0)
        handles.append(site.register_forward_hook(hook))
    if not handles:
        raise ValueError("the model has no active LoRA/MonoLoRA adapter to measure")
    try:
        yield meter
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def adapter_sparsity(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> float:
    """Share of zero adapter activations over one batch (``model(**batch)``), padding excluded."""
    with sparsity_meter(model) as meter:
        meter.set_mask(batch.get("attention_mask"))
        model(**batch)
    return meter.share
