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

    def fit(self, train_raw: torch.Tensor, seed: int, workdir: Path, cfg: Any) -> FeatureMap:
        """Return the map from raw features (N, D_raw) to probed features (N, D)."""
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

    def fit(self, train_raw, seed, workdir, cfg) -> FeatureMap:
        return F.relu


@register
class CLSAE(Representation):
    """TopK sparse-autoencoder latents of the L2-normalised CL projector output (post hoc)."""

    name, objective, label, monosemantic = "cl+sae", "cl", "CL+SAE (mono)", True
    colour = OKABE_ITO[2]

    def fit(self, train_raw, seed, workdir, cfg) -> FeatureMap:
        from monorobust.sae import fit_cached

        return fit_cached(train_raw, cfg.sae, seed, workdir)
