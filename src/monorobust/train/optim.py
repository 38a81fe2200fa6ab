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
    updated by the same few multi-tensor calls (``lars_update``), which ``compile_update`` fuses.
    """

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                 eta: float = 0.02, eps: float = 1e-8, clip_lr: bool = True,
                 exclude_bias_n_norm: bool = True) -> None:
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, eps=eps,
                        clip_lr=clip_lr, exclude_bias_n_norm=exclude_bias_n_norm)
        super().__init__(params, defaults)
        self._compiled: Callable | None = None
        self._lr_tensors: dict[int, torch.Tensor] = {}

    def compile_update(self) -> None:
        """Run each step's update after the norms (``lars_apply``) through ``torch.compile``:
        the trust ratios, momentum and step fused into a few kernels, where eagerly they are six
        multi-tensor calls that pass over the weights' memory about 15 times, two of them a
        kernel per tensor (a list of per-tensor factors leaves the multi-tensor fast path). The norms stay ``torch._foreach_norm``'s two
        multi-tensor kernels. The learning rate reaches the compiled update as a tensor, refilled
        each step, so the schedule does not recompile it; the group's ``lr`` stays a float for
        the scheduler, the logs and the checkpoints."""
        self._compiled = torch.compile(lars_apply)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for i, group in enumerate(self.param_groups):
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            bufs = []
            if group["momentum"] != 0:
                for p in params:               # zeros: the first step's buf = 0 * m + d = d
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = torch.zeros_like(p)
                    bufs.append(state["momentum_buffer"])
            adapt = [p.ndim != 1 or not group["exclude_bias_n_norm"] for p in params]
            hyper = {k: group[k] for k in ("momentum", "weight_decay", "eta", "eps", "clip_lr")}
            lr = group["lr"]
            if self._compiled is not None:
                lr = self._lr_tensor(i, lr, params[0].device)
            lars_update(params, [p.grad for p in params], bufs, adapt, lr, **hyper,
                        apply=self._compiled)
        return loss

    def _lr_tensor(self, group: int, lr: float, device: torch.device) -> torch.Tensor:
        """The group's learning rate in a tensor that lives as long as the optimizer."""
        held = self._lr_tensors.get(group)
        if held is None or held.device != device:
            held = self._lr_tensors[group] = torch.zeros((), device=device)
        return held.fill_(lr)


def lars_update(params: list[torch.Tensor], grads: list[torch.Tensor], bufs: list[torch.Tensor],
                adapt: list[bool], lr: float | torch.Tensor, *, momentum: float,
                weight_decay: float, eta: float, eps: float, clip_lr: bool,
                apply: Callable | None = None) -> None:
    """One LARS step for a group, in place on ``params`` and ``bufs`` (empty without momentum),
    ``adapt[i]`` saying which tensors get the trust ratio and the weight decay.

    The norms are two multi-tensor calls (``torch._foreach_norm``); ``apply`` (``lars_apply``,
    or it compiled) does the rest.
    """
    chosen = [i for i, a in enumerate(adapt) if a]
    p_norm = g_norm = None
    if chosen:
        p_norm = torch.stack(torch._foreach_norm([params[i] for i in chosen]))
        g_norm = torch.stack(torch._foreach_norm([grads[i] for i in chosen]))
    (apply or lars_apply)(params, grads, bufs, chosen, p_norm, g_norm, lr, momentum=momentum,
                          weight_decay=weight_decay, eta=eta, eps=eps, clip_lr=clip_lr)


def lars_apply(params: list[torch.Tensor], grads: list[torch.Tensor], bufs: list[torch.Tensor],
               chosen: list[int], p_norm: torch.Tensor | None, g_norm: torch.Tensor | None,
               lr: float | torch.Tensor, *, momentum: float, weight_decay: float, eta: float,
               eps: float, clip_lr: bool) -> None:
    """LARS's step given the norms of the ``chosen`` tensors' weights and gradients: a few
    multi-tensor (``torch._foreach_*``) calls for all tensors.

    A loop over tensors costs about 25 small kernels per weight tensor, 700 a step for
    ResNet-18 with its projector: more launches than its backward pass on a GPU. The numbers
    are the per-tensor formula's (bit for bit on a CPU, where the multi-tensor calls run the
    same operations in the same order; tests/test_scale_train.py checks it).
    """
    updates = list(grads)
    if chosen:
        ps, gs = [params[i] for i in chosen], [grads[i] for i in chosen]
        trust = eta * p_norm / (g_norm + p_norm * weight_decay + eps)
        if clip_lr:
            trust = (trust / lr).clamp(max=1.0)
        valid = (p_norm > 0) & (g_norm > 0)
        trust = torch.where(valid, trust, torch.ones_like(trust))
        decay = torch.where(valid, weight_decay, 0.0)
        scaled = torch._foreach_mul(ps, list(decay.unbind()))        # decay * p
        torch._foreach_add_(scaled, gs)                               # g + decay * p
        torch._foreach_mul_(scaled, list(trust.unbind()))             # (g + decay * p) * trust
        for i, d_p in zip(chosen, scaled):
            updates[i] = d_p
    if bufs:
        torch._foreach_mul_(bufs, momentum)
        torch._foreach_add_(bufs, updates)
        updates = bufs
    if isinstance(lr, torch.Tensor):               # compiled: fused with the lines above
        torch._foreach_sub_(params, torch._foreach_mul(updates, lr))
    else:
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
