"""Optimisers by name and the warmup + cosine learning-rate schedule (per step).

LARS is written out here: PyTorch has none, and the maintained ones (timm's, lightly's) come
with torchvision, whose registry builds pull a torch of their own, so they cannot be core
dependencies. It follows solo-learn's ``LARS`` (which the authors' code uses) line by line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch

from monorobust.registry import Registry

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter], float, float], torch.optim.Optimizer]
OPTIMIZERS: Registry[OptimizerFactory] = Registry("optimizer")


@OPTIMIZERS.register("adamw")
def adamw(params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


@OPTIMIZERS.register("sgd")
def sgd(params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)


class LARS(torch.optim.Optimizer):
    """SGD with momentum and layer-wise adaptive rate scaling (You et al. 2017), as in solo-learn.

    For every parameter tensor p with gradient g (weight decay wd, trust coefficient ``eta``):

        d = eta * ||p|| / (||g|| + wd * ||p|| + eps) * (g + wd * p)     (d = g where a norm is 0)
        (with ``clip_lr``: the factor eta * ||p|| / (...) is first divided by lr and capped at 1)
        buf = momentum * buf + d;   p -= lr * buf

    With ``exclude_bias_n_norm`` (solo-learn's default in SimCLR configs), 1-d tensors (biases,
    BatchNorm/LayerNorm weights) skip both the adaptation and the weight decay: d = g.
    Norms are compared on the device (no host sync per tensor).
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                 eta: float = 0.02, eps: float = 1e-8, clip_lr: bool = True,
                 exclude_bias_n_norm: bool = True) -> None:
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, eps=eps,
                        clip_lr=clip_lr, exclude_bias_n_norm=exclude_bias_n_norm)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            wd, lr = group["weight_decay"], group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                d_p = p.grad
                if p.ndim != 1 or not group["exclude_bias_n_norm"]:
                    p_norm, g_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(d_p)
                    trust = group["eta"] * p_norm / (g_norm + p_norm * wd + group["eps"])
                    if group["clip_lr"]:
                        trust = (trust / lr).clamp(max=1.0)
                    trust = torch.where((p_norm > 0) & (g_norm > 0), trust, torch.ones_like(trust))
                    decay = torch.where((p_norm > 0) & (g_norm > 0), wd, 0.0)
                    d_p = (d_p + decay * p) * trust
                state = self.state[p]
                if group["momentum"] != 0:
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = d_p.detach().clone()
                    else:
                        state["momentum_buffer"].mul_(group["momentum"]).add_(d_p)
                    d_p = state["momentum_buffer"]
                p.add_(d_p, alpha=-lr)
        return loss


@OPTIMIZERS.register("lars")
def lars(params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """solo-learn's SimCLR setting: momentum 0.9, eta 0.02, clip_lr, biases and norms excluded."""
    return LARS(params, lr=lr, weight_decay=weight_decay)


def warmup_cosine(optimizer: torch.optim.Optimizer, warmup_steps: int,
                  total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup from ~0 to the base rate over ``warmup_steps``, then cosine decay to 0."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
