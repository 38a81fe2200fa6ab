"""Representations compared by a run, registered by name.

A representation turns the raw projector (or backbone) output of a pretrained encoder into the
features that are probed and measured. It names the pretraining objective it needs ("cl" or
"ncl"), and may fit a post-hoc map on the training features (a sparse autoencoder, say).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from monorobust.registry import Registry

FeatureMap = Callable[[torch.Tensor], torch.Tensor]

OKABE_ITO = ("#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442",
             "#000000")
"""Okabe & Ito's colour-blind-safe palette: registered representations take theirs from it."""


class Representation:
    """Base class: the identity map on the raw features of the ``objective`` encoder."""

    name: str = ""
    objective: str = "cl"
    label: str = ""
    """Human-readable name for tables and plots."""
    monosemantic: bool = False
    """Whether the paper counts it as monosemantic."""
    colour: str | None = None
    """Its colour in every figure of every report (None: the next free palette colour)."""
    fits_sae: bool = False
    """Whether ``fit`` trains a TopK SAE (``cfg.sae``) on the raw features."""

    def fit(self, train_raw: torch.Tensor, seed: int, workdir: Path, cfg: Any,
            device: torch.device | str = "cpu") -> FeatureMap:
        """Return the map from raw features (N, D_raw) to probed features (N, D).

        ``device``: where a fitted map trains and runs (the SAEs'; the frozen heads train on
        the CPU); the map returns its features on the device of its input.
        """
        return lambda raw: raw


REPRESENTATIONS: Registry[Representation] = Registry("representation")


def register(cls: type[Representation]) -> type[Representation]:
    REPRESENTATIONS.register(cls.name)(cls())
    return cls


@register
class CL(Representation):
    """SimCLR: the projector output g(f(x)) (polysemantic)."""

    name, objective, label, monosemantic, colour = "cl", "cl", "CL (poly)", False, OKABE_ITO[0]


@register
class NCL(Representation):
    """Non-negative contrastive learning: relu(g(f(x))) of an NCL-pretrained encoder."""

    name, objective, label, monosemantic, colour = "ncl", "ncl", "NCL (mono)", True, OKABE_ITO[1]

    def fit(self, train_raw, seed, workdir, cfg, device="cpu") -> FeatureMap:
        return F.relu


@register
class CLSAE(Representation):
    """TopK sparse-autoencoder latents of the L2-normalised CL projector output (post hoc)."""

    name, objective, label, monosemantic = "cl+sae", "cl", "CL+SAE (mono)", True
    colour, fits_sae = OKABE_ITO[2], True

    def fit(self, train_raw, seed, workdir, cfg, device="cpu") -> FeatureMap:
        from monorobust.sae import fit_cached

        return fit_cached(train_raw, cfg.sae, seed, workdir, device)


# Frozen pretrained backbones (``pretrain.encoder: hf:...``; issue 14). Their objective "frozen"
# tells ``monorobust run`` to load the backbone (``models.hf``) instead of pretraining, and to
# pass ``views`` (2, N, D), the features of two augmented views of every training image
# (``evaluate.frozen``), to ``fit``.


@register
class Frozen(Representation):
    """The frozen backbone's pooled features (``models.hf``: CLS token or pooler output)."""

    name, objective, label, monosemantic, colour = "frozen", "frozen", "Frozen (poly)", False, \
        OKABE_ITO[3]

    def fit(self, train_raw, seed, workdir, cfg, device="cpu", views=None) -> FeatureMap:
        return lambda raw: raw


@register
class FrozenSAE(Representation):
    """TopK SAE latents of the L2-normalised frozen features (the cl+sae path, post hoc)."""

    name, objective, label, monosemantic = "frozen+sae", "frozen", "Frozen+SAE (mono)", True
    colour, fits_sae = OKABE_ITO[4], True

    def fit(self, train_raw, seed, workdir, cfg, device="cpu", views=None) -> FeatureMap:
        from monorobust.sae import fit_cached

        return fit_cached(train_raw, cfg.sae, seed, workdir, device)


class _FrozenHead(Representation):
    """A projector head trained on the frozen views with ``head_objective`` (``train.head``)."""

    objective = "frozen"
    head_objective = "cl"

    def fit(self, train_raw, seed, workdir, cfg, device="cpu", views=None) -> FeatureMap:
        from monorobust.train.head import fit_head_cached

        if views is None:
            raise ValueError(f"{self.name} needs the augmented views of the frozen features")
        head = fit_head_cached(views, cfg.pretrain, self.head_objective, seed, workdir)
        nonneg = self.head_objective == "ncl"

        @torch.no_grad()
        def fmap(raw: torch.Tensor) -> torch.Tensor:
            out = head(raw)
            return F.relu(out) if nonneg else out

        return fmap


@register
class FrozenCL(_FrozenHead):
    """g(frozen features), g trained with SimCLR's loss on the frozen views (polysemantic)."""

    name, label, monosemantic, colour = "frozen+cl", "Frozen+CL head (poly)", False, OKABE_ITO[5]
    head_objective = "cl"


@register
class FrozenNCL(_FrozenHead):
    """relu(g(frozen features)), g trained with the NCL loss on the frozen views."""

    name, label, monosemantic, colour = "frozen+ncl", "Frozen+NCL head (mono)", True, OKABE_ITO[6]
    head_objective = "ncl"
