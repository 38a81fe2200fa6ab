"""Configuration of full fine-tuning (backbone trainable) with a standard or monosemantic head."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

from monorobust.errors import ConfigError
from monorobust.fields import (AT_LEAST_1, FRACTION, NON_NEGATIVE, POSITIVE, Range, check_distinct,
                               check_fields)

HEADS = ("standard", "mono")


@dataclass(frozen=True)
class FinetuneConfig:
    SECTION: ClassVar[str] = "finetune"
    """Where this config sits in the run config: errors name keys as SECTION.field."""

    objectives: tuple[str, ...] = ("cl", "ncl")
    """Pretrained encoders to start from (checkpoints of the run folder; pretrained if missing)."""
    heads: tuple[str, ...] = HEADS
    """Classifier inputs: "standard" = g(f(x)), "mono" = relu(g(f(x))) (monosemantic fine-tuning)."""
    label_noise: Annotated[tuple[float, ...], FRACTION] = (0.6,)
    """Symmetric label-noise rates of the training and validation labels (0 = clean)."""
    few_shot: Annotated[tuple[int, ...], AT_LEAST_1] = (10,)
    """Examples per class of few-shot fine-tuning (clean labels)."""
    clean: bool = True
    """Also fine-tune on the clean (sub)set, the reference point."""
    train_size: Annotated[int, Range(ge=10)] | None = 1000
    """Fine-tune on this many training images (stratified subset; CPU budget); null: all."""
    val_size: Annotated[int, Range(ge=10)] | None = 500
    """Validate on this many validation images (stratified subset); null: all."""
    epochs: Annotated[int, AT_LEAST_1] = 20
    """Fine-tuning epochs; the kept epoch is the one with the best validation accuracy."""
    batch_size: Annotated[int, Range(ge=2)] = 256
    """Images per step; at least 2 (BatchNorm needs more than one value per channel)."""
    lr: Annotated[float, POSITIVE] = 1e-4
    """AdamW learning rate of the backbone and projector."""
    head_lr: Annotated[float, POSITIVE] = 1e-3
    """AdamW learning rate of the linear classifier."""
    weight_decay: Annotated[float, NON_NEGATIVE] = 1e-4
    """AdamW weight decay."""
    augment: bool = False
    """Random resized crops (area 0.5-1) and horizontal flips of the training images.
    Off by default so that memorisation of noisy labels shows in few epochs."""

    def __post_init__(self) -> None:
        from monorobust.train import OBJECTIVES

        check_fields(self)
        for o in self.objectives:
            if o not in OBJECTIVES:
                raise ConfigError(f"finetune.objectives: unknown objective {o!r}; known: {', '.join(OBJECTIVES)}")
        for h in self.heads:
            if h not in HEADS:
                raise ConfigError(f"finetune.heads: unknown head {h!r}; known: {', '.join(HEADS)}")
        if not self.objectives or not self.heads:
            raise ConfigError("finetune.objectives and finetune.heads must not be empty")
        if not (self.clean or self.label_noise or self.few_shot):
            raise ConfigError("finetune: nothing to run; enable clean, label_noise or few_shot")
        for key in ("objectives", "heads", "label_noise", "few_shot"):
            check_distinct(f"finetune.{key}", getattr(self, key))

    def points(self) -> list[tuple[str, float]]:
        """(scenario, severity) of every fine-tuning setting, clean first."""
        pts = [("clean", 0.0)] if self.clean else []
        pts += [("label_noise", float(r)) for r in self.label_noise if r > 0]
        return pts + [("few_shot", float(k)) for k in self.few_shot]
