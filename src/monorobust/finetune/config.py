"""Configuration of full fine-tuning (backbone trainable) with a standard or monosemantic head."""

from __future__ import annotations

from dataclasses import dataclass

from monorobust.errors import ConfigError

HEADS = ("standard", "mono")


@dataclass(frozen=True)
class FinetuneConfig:
    objectives: tuple[str, ...] = ("cl", "ncl")
    """Pretrained encoders to start from (checkpoints of the run folder; pretrained if missing)."""
    heads: tuple[str, ...] = HEADS
    """Classifier inputs: "standard" = g(f(x)), "mono" = relu(g(f(x))) (monosemantic fine-tuning)."""
    label_noise: tuple[float, ...] = (0.6,)
    """Symmetric label-noise rates of the training and validation labels (0 = clean)."""
    few_shot: tuple[int, ...] = (10,)
    """Examples per class of few-shot fine-tuning (clean labels)."""
    clean: bool = True
    """Also fine-tune on the clean (sub)set, the reference point."""
    train_size: int | None = 1000
    """Fine-tune on this many training images (stratified subset; CPU budget); null: all."""
    val_size: int | None = 500
    """Validate on this many validation images (stratified subset); null: all."""
    epochs: int = 20
    """Fine-tuning epochs; the kept epoch is the one with the best validation accuracy."""
    batch_size: int = 256
    """Images per step."""
    lr: float = 1e-4
    """AdamW learning rate of the backbone and projector."""
    head_lr: float = 1e-3
    """AdamW learning rate of the linear classifier."""
    weight_decay: float = 1e-4
    """AdamW weight decay."""
    augment: bool = False
    """Random resized crops (area 0.5-1) and horizontal flips of the training images.
    Off by default so that memorisation of noisy labels shows in few epochs."""

    def __post_init__(self) -> None:
        from monorobust.train import OBJECTIVES

        for o in self.objectives:
            if o not in OBJECTIVES:
                raise ConfigError(f"finetune.objectives: unknown objective {o!r}; known: {', '.join(OBJECTIVES)}")
        for h in self.heads:
            if h not in HEADS:
                raise ConfigError(f"finetune.heads: unknown head {h!r}; known: {', '.join(HEADS)}")
        if not self.objectives or not self.heads:
            raise ConfigError("finetune.objectives and finetune.heads must not be empty")
        for r in self.label_noise:
            if not 0 <= r < 1:
                raise ConfigError(f"finetune.label_noise: rate {r} must be in [0, 1)")
        for k in self.few_shot:
            if int(k) != k or k < 1:
                raise ConfigError(f"finetune.few_shot: k={k} must be an integer >= 1")
        if not (self.clean or self.label_noise or self.few_shot):
            raise ConfigError("finetune: nothing to run; enable clean, label_noise or few_shot")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"finetune.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("train_size", "val_size"):
            if getattr(self, name) is not None and getattr(self, name) < 10:
                raise ConfigError(f"finetune.{name} must be null or >= 10")
        if self.lr <= 0 or self.head_lr <= 0 or self.weight_decay < 0:
            raise ConfigError("finetune.lr and finetune.head_lr must be > 0, weight_decay >= 0")

    def points(self) -> list[tuple[str, float]]:
        """(scenario, severity) of every fine-tuning setting, clean first."""
        pts = [("clean", 0.0)] if self.clean else []
        pts += [("label_noise", float(r)) for r in self.label_noise if r > 0]
        return pts + [("few_shot", float(k)) for k in self.few_shot]
