"""Settings of ``monorobust lora align``: refusal training, then benign fine-tuning, LoRA vs MonoLoRA."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Annotated, ClassVar

from monorobust.adapters.hf_models import SHIPPED_LM
from monorobust.adapters.methods import check_methods
from monorobust.errors import ConfigError
from monorobust.fields import FRACTION, POSITIVE, SEED, check_fields

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
STAGE1_KEYS = ("model", "harmful_train", "split_seed", "benign_train", "benign_answer_tokens", "align_steps",
               "align_lr", "align_r", "target_modules", "batch_size", "max_length")


@dataclass(frozen=True)
class AlignConfig:
    """Stage 1 (teach refusal, merged into the weights), stage 2 (adapters on a benign task) x seeds."""

    SECTION: ClassVar[str] = ""
    """Where this config sits in the run config: errors name keys as SECTION.field."""
    AXES: ClassVar[tuple[str, ...]] = ("methods", "seeds", "threads", "workers")
    """Grid axes and speed settings: rows name their cell, so these may change between reruns."""

    model: str = SHIPPED_LM
    """Chat model: the shipped SmolLM2-135M-Instruct (GGUF), a local folder / .gguf file, or a Hub id."""
    methods: tuple[str, ...] = ("lora", "monolora")
    """Stage-2 adapters compared: ``lora``, ``monolora`` (ReLU on the code), ``monolora-output``."""
    seeds: Annotated[tuple[int, ...], SEED] = (0, 1, 2)
    """Stage-2 seeds (adapter init, batch order); stage 1 is one model, shared by all of them."""
    harmful_train: int = 80
    """HarmBench standard behaviours stage 1 learns to refuse."""
    harmful_heldout: int = 60
    """Other HarmBench standard behaviours: refusal is measured on these only."""
    split_seed: Annotated[int, SEED] = 0
    """Seed of the harmful split, the benign prompts and the task split."""
    benign_train: int = 48
    """Benign instructions in stage 1, answered with the starting model's own greedy answers."""
    benign_heldout: int = 24
    """Held-out benign instructions (other topics): over-refusal is measured on these."""
    benign_answer_tokens: int = 40
    """Length of the self-distilled benign answers."""
    align_steps: int = 40
    """Stage-1 optimiser steps (LoRA, then merged into the weights)."""
    align_lr: Annotated[float, POSITIVE] = 5e-4
    """Stage-1 learning rate."""
    align_r: int = 16
    """Stage-1 LoRA rank (alpha = 2 r)."""
    task_train: int = 120
    """Stage-2 training tweets (balanced over the three sentiments)."""
    task_test: int = 60
    """Clean test tweets (balanced) for task accuracy."""
    finetune_steps: int = 15
    """Stage-2 optimiser steps per method and seed (15 x 8 = one pass over the 120 tweets)."""
    lr: Annotated[float, POSITIVE] = 5e-4
    """Stage-2 learning rate (the same for every method)."""
    r: int = 8
    """Stage-2 adapter rank."""
    lora_alpha: Annotated[float, POSITIVE] = 16.0
    """Stage-2 LoRA alpha (update scaled by alpha / r)."""
    lora_dropout: Annotated[float, FRACTION] = 0.05
    """Stage-2 adapter dropout."""
    target_modules: tuple[str, ...] = ALL_LINEAR
    """Linear layers with adapters (Llama names), in both stages."""
    batch_size: int = 8
    """Training batch size (both stages)."""
    max_length: int = 128
    """Maximum tokens per training sequence (prompt end kept)."""
    eval_new_tokens: int = 20
    """Greedy tokens generated per judged answer (a refusal shows in its first words)."""
    threads: int = 1
    """torch CPU threads per process."""
    workers: int = 2
    """Worker processes (2 for a 2-core machine; 1 = everything in this process)."""

    def __post_init__(self) -> None:
        check_fields(self)
        check_methods(self.methods)
        if not self.seeds:
            raise ConfigError("seeds: give at least one seed (3 or more for mean ± std)")
        # Every other count is >= 1 (one rule for the 15 of them, kept beside the fields' names).
        ints = {k: v for k, v in asdict(self).items() if isinstance(v, int) and k != "split_seed"}
        for key, value in ints.items():
            if value < 1:
                raise ConfigError(f"{key}={value} must be >= 1")
        if self.harmful_train + self.harmful_heldout > 200:
            raise ConfigError("harmful_train + harmful_heldout must be <= 200 (the standard HarmBench "
                              "behaviours); lower them")
        if self.benign_train > 96 or self.benign_heldout > 48:
            raise ConfigError("benign_train must be <= 96 and benign_heldout <= 48 (templates x topics); lower them")
        if self.task_train % 3 or self.task_test % 3:
            raise ConfigError("task_train and task_test must be multiples of 3 (balanced sentiments)")

    def fingerprint(self, keys: tuple[str, ...] | None = None) -> str:
        """Hash of the settings that shape results (all but the grid axes and threads), or of ``keys``."""
        d = asdict(self)
        d = {k: d[k] for k in keys} if keys else {k: v for k, v in d.items() if k not in self.AXES}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]
