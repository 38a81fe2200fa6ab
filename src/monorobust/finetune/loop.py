"""Full fine-tuning of a pretrained contrastive model with a linear classifier on its projector.

    standard:  logits = W g(f(x)) + b
    mono:      logits = W relu(g(f(x))) + b        (monosemantic fine-tuning, the paper's)

Backbone f, projector g and classifier W, b are all trained with cross-entropy. Accuracy on the
training labels (as given: noisy under label noise) and on the validation labels is recorded
after every epoch; the weights of the epoch with the best validation accuracy are kept and
only they are scored on the test split.
"""

from __future__ import annotations

import copy
import math
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from monorobust.errors import ConfigError
from monorobust.finetune.config import FinetuneConfig
from monorobust.models import ContrastiveModel


class FinetuneModel(nn.Module):
    """A pretrained ``ContrastiveModel`` with a linear classifier on g(f(x)) or relu(g(f(x)))."""

    def __init__(self, encoder: ContrastiveModel, num_classes: int, head: str,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head
        dim = encoder.projector[-1].out_features
        bound = 1 / dim ** 0.5                      # nn.Linear's default init, from a generator
        self.classifier = nn.Linear(dim, num_classes)
        with torch.no_grad():
            self.classifier.weight.copy_(torch.rand(num_classes, dim, generator=generator) * 2 * bound - bound)
            self.classifier.bias.copy_(torch.rand(num_classes, generator=generator) * 2 * bound - bound)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [0, 1] -> (N, D): the classifier's input."""
        z = self.encoder(x)
        return F.relu(z) if self.head == "mono" else z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class EpochRecord(NamedTuple):
    epoch: int
    loss: float
    """Mean training cross-entropy of the epoch."""
    train_accuracy: float
    """On the training labels the model is fitted to (noisy under label noise)."""
    train_accuracy_clean: float
    """On the true labels of the same training images (the share of noise not memorised)."""
    val_accuracy: float
    """On the validation labels (noisy like the training labels): the selection criterion."""


class FinetuneResult(NamedTuple):
    history: list[EpochRecord]
    best_epoch: int
    """Epoch (1-based) with the best validation accuracy; its weights are scored on test."""
    test_accuracy: float
    """Clean test split, with the weights of ``best_epoch``."""
    test_nonneg_share: float
    """Share of classifier inputs >= 0 on the test split (1.0 for the mono head)."""
    seconds: float


def _float(images: torch.Tensor) -> torch.Tensor:
    return images.float().div_(255) if images.dtype == torch.uint8 else images.float()


@torch.no_grad()
def predict(model: FinetuneModel, images: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """(N,) predicted classes, in eval mode."""
    model.eval()
    parts = [model(_float(images[i:i + batch_size])).argmax(1) for i in range(0, len(images), batch_size)]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)


def accuracy(model: FinetuneModel, images: torch.Tensor, labels: torch.Tensor) -> float:
    return float((predict(model, images) == labels).float().mean()) if len(labels) else 0.0


@torch.no_grad()
def nonneg_share(model: FinetuneModel, images: torch.Tensor, batch_size: int = 1024) -> float:
    model.eval()
    parts = [model.features(_float(images[i:i + batch_size])) >= 0 for i in range(0, len(images), batch_size)]
    return float(torch.cat(parts).float().mean()) if parts else float("nan")


def finetune(encoder: ContrastiveModel, head: str, train_x: torch.Tensor, train_y: torch.Tensor,
             train_true: torch.Tensor, val_x: torch.Tensor, val_y: torch.Tensor,
             test_x: torch.Tensor, test_y: torch.Tensor, num_classes: int, cfg: FinetuneConfig,
             seed: int, progress: bool = False) -> FinetuneResult:
    """Fine-tune a copy of ``encoder`` with a ``head`` ("standard" / "mono") classifier.

    Images are uint8 (N, C, H, W); ``train_y`` the labels trained on, ``train_true`` the true
    ones (only reported), ``val_y`` the labels selected on. Same inputs and seed, same result.
    """
    import time

    from monorobust.train.augment import random_resized_crop

    started = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    model = FinetuneModel(copy.deepcopy(encoder), num_classes, head, gen)
    opt = torch.optim.AdamW([
        {"params": model.encoder.parameters(), "lr": cfg.lr},
        {"params": model.classifier.parameters(), "lr": cfg.head_lr},
    ], weight_decay=cfg.weight_decay)
    n, batch = len(train_y), min(cfg.batch_size, len(train_y))
    steps = max(1, n // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs * steps)
    crop = (0.5, 1.0)                              # light: the label must stay visible
    history: list[EpochRecord] = []
    best = (-1.0, 0, None)
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        perm, total = torch.randperm(n, generator=gen), 0.0
        for s in range(steps):
            idx = perm[s * batch:(s + 1) * batch]
            x = _float(train_x[idx])
            if cfg.augment:
                x = random_resized_crop(x, crop, 0.5, gen)
            loss = F.cross_entropy(model(x), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        pred = predict(model, train_x)                 # one pass serves both label sets
        rec = EpochRecord(epoch, total / steps, float((pred == train_y).float().mean()),
                          float((pred == train_true).float().mean()), accuracy(model, val_x, val_y))
        if not math.isfinite(rec.loss):
            raise ConfigError(f"fine-tuning ({head} head, seed {seed}) diverged: the mean loss of "
                              f"epoch {epoch} is {rec.loss} (finetune.lr {cfg.lr}, head_lr "
                              f"{cfg.head_lr}); lower them")
        history.append(rec)
        if rec.val_accuracy > best[0]:
            best = (rec.val_accuracy, epoch, copy.deepcopy(model.state_dict()))
        if progress:
            print(f"    epoch {epoch:3d}  loss {rec.loss:.3f}  train {rec.train_accuracy:.3f}  "
                  f"val {rec.val_accuracy:.3f}", flush=True)
    model.load_state_dict(best[2])
    return FinetuneResult(history, best[1], accuracy(model, test_x, test_y),
                          nonneg_share(model, test_x), time.perf_counter() - started)
