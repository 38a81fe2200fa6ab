"""The study's settings, its row type, and the draws every part of it shares (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

import torch

from monorobust.errors import ConfigError
from monorobust.evaluate.scenarios import CLEAN
from monorobust.fields import AT_LEAST_1, NON_NEGATIVE, OPEN_UNIT, SEED, check_distinct, check_fields
from monorobust.seeding import derive_seed

LABEL_NOISE = "label_noise"
NO_NOISE = "none"
"""``noise_type`` of the clean and input-noise rows (their labels are clean)."""


@dataclass(frozen=True)
class StudyConfig:
    SECTION: ClassVar[str] = "study"
    """Where this config sits: errors name keys as SECTION.field."""

    protocols: tuple[str, ...] = ("val", "fixed", "standardised", "tuned-l2", "converged",
                                  "gce", "sce")
    """Probe protocols (``monorobust.evaluate.PROTOCOLS``)."""
    n_per_class: tuple[Annotated[int, NON_NEGATIVE], ...] = (50, 500, 0)
    """Data regimes: labelled training examples per class (0: all of them). The validation
    subset keeps the run's validation-to-training ratio (at least 1 per class)."""
    noise_types: tuple[str, ...] = ("symmetric", "pairflip", "instance")
    """Label-noise types (``monorobust.perturb.LABEL_NOISE_TYPES``)."""
    noise_rates: tuple[Annotated[float, OPEN_UNIT], ...] = (0.2, 0.4, 0.8)
    """Label-noise rates; a rate a type cannot reach is capped at its largest (0.45 for
    pair-flip and instance noise, whose wrong label must stay rarer than the true one)."""
    input_noise: Annotated[float, NON_NEGATIVE] = 0.3
    """Gaussian input-noise std (pixel space) of the test-time point (0: none)."""
    representations: tuple[str, ...] = ()
    """Representations to study (empty: the run's)."""
    seeds: tuple[Annotated[int, SEED], ...] = ()
    """Seeds to study (empty: the run's)."""
    threads: Annotated[int, AT_LEAST_1] | None = None
    """CPU threads of the study; null: torch's default, every core (the quick preset's study took
    885 s on 2 idle cores with 2 threads). Use 1 on a shared, loaded machine, where a second
    intra-op thread mostly spin-waits."""

    def __post_init__(self) -> None:
        from monorobust.evaluate import PROTOCOLS
        from monorobust.perturb import LABEL_NOISE_TYPES

        check_fields(self)
        for name in self.protocols:
            PROTOCOLS.get(name)
        for name in self.noise_types:
            LABEL_NOISE_TYPES.get(name)
        for key in ("protocols", "n_per_class"):
            if not getattr(self, key):
                raise ConfigError(f"study.{key} lists nothing; give at least one")
        for key in ("protocols", "n_per_class", "noise_types", "noise_rates", "representations",
                    "seeds"):
            check_distinct(f"study.{key}", getattr(self, key))


def capped_rates(kind: str, rates: tuple[float, ...], num_classes: int) -> list[float]:
    """The rates ``kind`` runs: each capped below the type's maximum, duplicates dropped."""
    from monorobust.perturb import LABEL_NOISE_TYPES

    top = LABEL_NOISE_TYPES.get(kind).max_rate(num_classes)
    cap = round(top - 0.05, 2)
    return sorted(dict.fromkeys(min(r, cap) for r in rates))


def label_points(cfg: StudyConfig, num_classes: int) -> list[tuple[str, str, float]]:
    """(noise_type, scenario, severity) of every label vector: clean first."""
    return [(NO_NOISE, CLEAN, 0.0)] + [(k, LABEL_NOISE, r) for k in cfg.noise_types
                                       for r in capped_rates(k, cfg.noise_rates, num_classes)]


def study_cells(cfg: StudyConfig, reps, seeds, num_classes: int) -> list[tuple]:
    """Done-keys of every cell, in the order they are computed."""
    pts = label_points(cfg, num_classes)
    if cfg.input_noise > 0:
        pts.insert(1, (NO_NOISE, "gaussian_noise", float(cfg.input_noise)))
    return [(rep, p, n, kind, scen, sev, seed) for seed in seeds for n in cfg.n_per_class
            for rep in reps for p in cfg.protocols for kind, scen, sev in pts]


def study_seed(seed: int, *keys) -> torch.Generator:
    """The generator of one draw of the study (regime subsets, noise)."""
    return torch.Generator().manual_seed(derive_seed(seed, "study", *keys))
