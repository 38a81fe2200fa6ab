"""Linear probe: multinomial logistic regression on frozen features, selected on validation.

Written with plain PyTorch rather than scikit-learn's LogisticRegression because it runs on the
features' device (GPU at paper scale) with the same minibatch schedule the paper's probe uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

from monorobust.errors import ConfigError
from monorobust.evaluate.config import ProbeConfig
from monorobust.train.optim import OPTIMIZERS


class Probe(NamedTuple):
    weight: torch.Tensor
    """(C, D)."""
    bias: torch.Tensor
    """(C,)."""
    best_step: int
    """Step whose weights were kept."""
    val_accuracy: float
    """Accuracy on the (possibly noisy) validation labels at ``best_step``."""
    train_accuracy: float
    """Accuracy on the (possibly noisy) training labels with the kept weights."""

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return features @ self.weight.T + self.bias

    def accuracy(self, features: torch.Tensor, labels: torch.Tensor) -> float:
        return accuracy(self.weight, self.bias, features, labels)

    @torch.no_grad()
    def per_class_accuracy(self, features: torch.Tensor, labels: torch.Tensor,
                           num_classes: int) -> list[float]:
        """Accuracy on the samples of each true class (NaN for a class with no sample)."""
        pred = self.logits(features).argmax(1)
        hits = torch.bincount(labels[pred == labels], minlength=num_classes).float()
        total = torch.bincount(labels, minlength=num_classes).float()
        return (hits / total).tolist()


@torch.no_grad()
def accuracy(weight: torch.Tensor, bias: torch.Tensor, features: torch.Tensor,
             labels: torch.Tensor, chunk: int = 65536) -> float:
    correct = 0
    for i in range(0, len(labels), chunk):
        pred = (features[i:i + chunk] @ weight.T + bias).argmax(1)
        correct += int((pred == labels[i:i + chunk]).sum())
    return correct / max(1, len(labels))


def train_probe(train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor,
                val_y: torch.Tensor, num_classes: int, cfg: ProbeConfig, seed: int,
                loss_fn: Callable[..., torch.Tensor] | None = None, l2: float = 0.0) -> Probe:
    """Fit a linear classifier on ``train_x`` (N, D) / ``train_y`` (N,); select on val.

    Minibatches are drawn with a generator seeded by ``seed``; the same inputs give the same
    probe. The learning rate decays with a cosine to zero over ``cfg.steps``.

    ``loss_fn(logits (B, C), targets (B,))`` replaces cross-entropy (the probe protocols' robust
    losses, ``monorobust.objectives``); ``l2`` adds ``l2 / 2 * ||weight||^2`` to the mean loss (the
    bias is not penalised), independent of the optimiser's weight decay. ``train_probes`` fits
    many label vectors at once with the same results.
    """
    dev = train_x.device
    gen = torch.Generator(device=dev).manual_seed(seed)
    d = train_x.shape[1]
    # Initialise at zero: every class equally likely, no dependence on a random init.
    weight = torch.zeros(num_classes, d, device=dev, requires_grad=True)
    bias = torch.zeros(num_classes, device=dev, requires_grad=True)
    opt = OPTIMIZERS.get(cfg.optimizer)([weight, bias], cfg.lr, cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    n = len(train_y)
    batch = min(cfg.batch_size, n)
    best = (-1.0, 0, weight.detach().clone(), bias.detach().clone())
    perm, pos = torch.randperm(n, generator=gen, device=dev), 0
    for step in range(1, cfg.steps + 1):
        if pos + batch > n:
            perm, pos = torch.randperm(n, generator=gen, device=dev), 0
        idx = perm[pos:pos + batch]
        pos += batch
        logits = train_x[idx] @ weight.T + bias
        loss = F.cross_entropy(logits, train_y[idx]) if loss_fn is None else loss_fn(logits, train_y[idx])
        if l2:
            loss = loss + 0.5 * l2 * weight.pow(2).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if cfg.select == "val" and (step % cfg.eval_every == 0 or step == cfg.steps):
            acc = accuracy(weight.detach(), bias.detach(), val_x, val_y)
            if acc > best[0]:
                best = (acc, step, weight.detach().clone(), bias.detach().clone())
    if cfg.select == "last":
        best = (accuracy(weight.detach(), bias.detach(), val_x, val_y), cfg.steps,
                weight.detach().clone(), bias.detach().clone())
    val_acc, step, w, b = best
    check_finite_probe(w, b, cfg)
    return Probe(w, b, step, val_acc, accuracy(w, b, train_x, train_y))


def check_finite_probe(weight: torch.Tensor, bias: torch.Tensor, cfg: ProbeConfig) -> None:
    """Refuse kept weights that are NaN or inf: every prediction of such a probe is class 0, so
    its accuracy (about 1/C) would read as a result."""
    if not (bool(torch.isfinite(weight).all()) and bool(torch.isfinite(bias).all())):
        raise ConfigError(f"the linear probe diverged: its weights are NaN or inf "
                          f"(probe.optimizer {cfg.optimizer}, probe.lr {cfg.lr}); lower probe.lr")
