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
    Norms are compared on the device (no host sync per tensor), and every tensor of a group is
    updated by the same few multi-tensor calls (``_update``).
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
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                self._update(group, params)
        return loss

    def _update(self, group: dict, params: list[torch.Tensor]) -> None:
        """One step for a group, a few multi-tensor (``torch._foreach_*``) calls for all tensors.

        A loop over tensors costs about 25 small kernels per weight tensor, 700 a step for
        ResNet-18 with its projector: more launches than its backward pass on a GPU. The numbers
        are the per-tensor formula's above (bit for bit on a CPU, where the multi-tensor calls
        run the same operations in the same order; tests/test_scale_train.py checks it).
        """
        wd, lr = group["weight_decay"], group["lr"]
        updates = [p.grad for p in params]
        adapt = [i for i, p in enumerate(params) if p.ndim != 1 or not group["exclude_bias_n_norm"]]
        if adapt:
            ps, gs = [params[i] for i in adapt], [updates[i] for i in adapt]
            p_norm = torch.stack(torch._foreach_norm(ps))
            g_norm = torch.stack(torch._foreach_norm(gs))
            trust = group["eta"] * p_norm / (g_norm + p_norm * wd + group["eps"])
            if group["clip_lr"]:
                trust = (trust / lr).clamp(max=1.0)
            valid = (p_norm > 0) & (g_norm > 0)
            trust = torch.where(valid, trust, torch.ones_like(trust))
            decay = torch.where(valid, wd, 0.0)
            scaled = torch._foreach_mul(ps, list(decay.unbind()))        # decay * p
            torch._foreach_add_(scaled, gs)                               # g + decay * p
            torch._foreach_mul_(scaled, list(trust.unbind()))             # (g + decay * p) * trust
            for i, d_p in zip(adapt, scaled):
                updates[i] = d_p
        if group["momentum"] != 0:
            bufs = [self.state[p].get("momentum_buffer") for p in params]
            running = [i for i, buf in enumerate(bufs) if buf is not None]
            if running:
                torch._foreach_mul_([bufs[i] for i in running], group["momentum"])
                torch._foreach_add_([bufs[i] for i in running], [updates[i] for i in running])
            for i, buf in enumerate(bufs):
                if buf is None:                                           # the first step
                    bufs[i] = self.state[params[i]]["momentum_buffer"] = updates[i].detach().clone()
            updates = bufs
        torch._foreach_add_(params, updates, alpha=-lr)


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
