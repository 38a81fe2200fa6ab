"""Many linear probes on the same training features at once: one matmul for K label vectors.

A study trains probes that share their features: the same training subset under several noise
types and rates, several L2 strengths, several label draws. ``train_probe`` would run K loops,
each gathering the same minibatch and multiplying it by a thin (D, C) weight. Here the K weights
are stacked into one (D, K*C) matrix, so each step gathers the minibatch once and does one wide
matmul forward and one backward for all K probes:

    logits[b, k, c] = x[b] . W[k, c] + bias[k, c]          x (B, D), W (K, C, D) -> (B, K, C)
    loss = sum_k  mean_b  loss_fn(logits[k, b], y[k, b])  +  sum_k  l2[k] / 2 * ||W[k]||^2

The probes' losses are separate terms of the sum, so each W[k] gets exactly the gradient it would
get alone. AdamW's and SGD's updates are elementwise, so the K probes share one stacked
parameter tensor; LARS scales by per-tensor norms, so there each probe keeps tensors of its own.
The minibatch order comes from the same seeded generator as ``train_probe``, and each probe
keeps its own best step: probe k equals ``train_probe(x, y[k], val_x, val_y[k], ..., seed)`` up
to float rounding.

``until_converged`` is the ``converged`` protocol's schedule: a constant learning rate, run until
the training loss stops improving rather than for a fixed number of steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch

from monorobust.checks import check_features, check_labels
from monorobust.errors import ConfigError
from monorobust.evaluate.config import ProbeConfig
from monorobust.evaluate.probe import Probe, check_finite_probe
from monorobust.objectives import cross_entropy
from monorobust.train.optim import OPTIMIZERS

ELEMENTWISE = frozenset({"adamw", "sgd"})
"""Optimisers whose update of an entry depends only on that entry's parameter, gradient and
state, so that K probes may share one stacked parameter tensor."""


class Converge(NamedTuple):
    """Stop rule of ``until_converged`` training (the ``converged`` protocol)."""

    tol: float = 1e-3
    """Converged once a window's mean training loss improves on the previous window's by less
    than this share of it."""
    min_steps: int = 0
    """Never stop before this many steps (0: one window)."""
    max_steps: int = 20_000
    """Stop here even if the loss still improves (then ``Probe.best_step == max_steps``)."""


def _label_matrix(y: torch.Tensor, n: int, num_classes: int, what: str) -> torch.Tensor:
    """(K, n) int64 from (K, n) or (n,) labels."""
    if isinstance(y, torch.Tensor) and y.ndim == 2 and y.shape[1] == n:
        return torch.stack([check_labels(row, what, num_classes, n) for row in y])
    return check_labels(y, what, num_classes, n).unsqueeze(0)


@torch.no_grad()
def _accuracies(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                chunk: int = 16384) -> torch.Tensor:
    """(K,) accuracy of each probe: W (K, C, D), b (K, C), x (M, D), y (K, M) or (1, M)."""
    k, c, d = w.shape
    correct = torch.zeros(k, dtype=torch.long, device=x.device)
    flat = w.reshape(k * c, d).T                      # (D, K*C): all probes in one matmul
    for i in range(0, x.shape[0], chunk):
        logits = (x[i:i + chunk] @ flat).view(-1, k, c) + b   # (m, K, C)
        pred = logits.argmax(2).T                              # (K, m)
        correct += (pred == y[:, i:i + chunk]).sum(1)
    return correct.double() / max(1, x.shape[0])     # float64: exactly train_probe's count / M


def train_probes(train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor,
                 val_y: torch.Tensor, num_classes: int, cfg: ProbeConfig, seed: int,
                 loss_fn: Callable[..., torch.Tensor] | None = None,
                 l2: torch.Tensor | list[float] | float = 0.0,
                 until_converged: Converge | None = None) -> list[Probe]:
    """K probes on shared features, trained together.

    Args:
        train_x: (N, D) features shared by every probe. val_x: (M, D).
        train_y: (K, N) one label vector per probe, or (N,) for one probe.
        val_y: (K, M), or (M,) shared by every probe.
        num_classes: C.
        cfg: optimiser, lr, batch size, steps, selection ("val" or "last"), as ``train_probe``.
        seed: seeds the minibatch order (the same for every probe, which is what lets them share
            one gathered minibatch).
        loss_fn: ``loss_fn(logits (..., C), targets (...), reduction="none")``, per-sample
            losses; default cross-entropy (``monorobust.objectives``).
        l2: (K,) or one L2 strength: ``l2[k] / 2 * ||W[k]||^2`` is added to probe k's loss.
        until_converged: instead of ``cfg.steps`` with a cosine decay, train at the constant
            ``cfg.lr`` until each probe's training loss has converged (``Converge``); each probe
            keeps its weights of the step it converged at.

    Returns:
        K ``Probe`` (weights (C, D), the step kept, validation and training accuracy).
    """
    train_x = check_features(train_x, "train_x")
    val_x = check_features(val_x, "val_x")
    n, d = train_x.shape
    if val_x.shape[1] != d:
        raise ConfigError(f"val_x has {val_x.shape[1]} features, train_x {d}; use the same features")
    ys = _label_matrix(train_y, n, num_classes, "train_y").to(train_x.device)
    k = ys.shape[0]
    vys = _label_matrix(val_y, val_x.shape[0], num_classes, "val_y").to(train_x.device)
    if vys.shape[0] not in (1, k):
        raise ConfigError(f"val_y holds {vys.shape[0]} label vectors for {k} probes; give one per "
                          "probe or one for all")
    l2s = torch.as_tensor(l2, dtype=torch.float32).flatten().expand(k).to(train_x.device)
    if not (torch.isfinite(l2s) & (l2s >= 0)).all():
        raise ConfigError(f"l2 must be finite and >= 0, got {l2}")
    loss_fn = cross_entropy if loss_fn is None else loss_fn
    penalised = bool((l2s > 0).any())

    dev = train_x.device
    gen = torch.Generator(device=dev).manual_seed(seed)
    if cfg.optimizer in ELEMENTWISE:
        # Updates elementwise in (param, grad, state): one (K, C, D) tensor is K probes alone.
        weight = torch.zeros(k, num_classes, d, device=dev, requires_grad=True)
        bias = torch.zeros(k, num_classes, device=dev, requires_grad=True)
        params = [weight, bias]
        stacked = lambda: (weight, bias)                                   # noqa: E731
    else:
        # Per-tensor norms (LARS): one leaf per probe, as train_probe has, stacked each step.
        weights = [torch.zeros(num_classes, d, device=dev, requires_grad=True) for _ in range(k)]
        biases = [torch.zeros(num_classes, device=dev, requires_grad=True) for _ in range(k)]
        params = [p for pair in zip(weights, biases) for p in pair]
        stacked = lambda: (torch.stack(weights), torch.stack(biases))     # noqa: E731
    opt = OPTIMIZERS.get(cfg.optimizer)(params, cfg.lr, cfg.weight_decay)
    ys_rows = ys.T.contiguous()                     # (N, K): a minibatch's labels are N-rows
    steps = cfg.steps if until_converged is None else until_converged.max_steps
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
             if until_converged is None else None)
    batch = min(cfg.batch_size, n)
    select_val = cfg.select == "val" and until_converged is None

    best_acc = torch.full((k,), -1.0, dtype=torch.float64, device=dev)
    best_step = torch.zeros(k, dtype=torch.long)
    best_w = torch.zeros(k, num_classes, d, device=dev)
    best_b = torch.zeros(k, num_classes, device=dev)
    # until_converged: loss summed over a window of steps (at least one epoch), per probe
    window = max(cfg.eval_every, math.ceil(n / batch))
    running, previous = torch.zeros(k, device=dev), None
    done = torch.zeros(k, dtype=torch.bool)

    perm, pos = torch.randperm(n, generator=gen, device=dev), 0
    for step in range(1, steps + 1):
        if pos + batch > n:
            perm, pos = torch.randperm(n, generator=gen, device=dev), 0
        idx = perm[pos:pos + batch]
        pos += batch
        w, b = stacked()                                                   # (K, C, D), (K, C)
        # (B, K, C) straight from the matmul: contiguous, so the softmax over C runs fast
        logits = (train_x[idx] @ w.view(k * num_classes, d).T).view(-1, k, num_classes) + b
        per_probe = loss_fn(logits, ys_rows[idx], reduction="none").mean(0)   # (K,)
        loss = per_probe.sum()
        if penalised:                  # adding a zero penalty would change nothing but the time
            loss = loss + 0.5 * (l2s * w.pow(2).sum((1, 2))).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        if select_val and (step % cfg.eval_every == 0 or step == steps):
            w, b = (t.detach() for t in stacked())
            acc = _accuracies(w, b, val_x, vys)
            better = acc > best_acc
            best_acc = torch.where(better, acc, best_acc)
            best_step[better.cpu()] = step
            best_w[better], best_b[better] = w[better], b[better]
        if until_converged is not None:
            running += per_probe.detach()
            if step % window == 0 or step == steps:
                newly = _converged(running, previous, until_converged, step, steps) & ~done
                w, b = (t.detach() for t in stacked())
                best_step[newly] = step
                best_w[newly.to(dev)], best_b[newly.to(dev)] = w[newly.to(dev)], b[newly.to(dev)]
                done |= newly
                previous, running = running, torch.zeros(k, device=dev)
                if done.all():
                    break
    if not select_val and until_converged is None:
        best_w, best_b = (t.detach().clone() for t in stacked())
        best_step[:] = steps
    check_finite_probe(best_w, best_b, cfg)
    val_acc = _accuracies(best_w, best_b, val_x, vys)
    train_acc = _accuracies(best_w, best_b, train_x, ys)
    return [Probe(best_w[i].clone(), best_b[i].clone(), int(best_step[i]), float(val_acc[i]),
                  float(train_acc[i])) for i in range(k)]


def _converged(running: torch.Tensor, previous: torch.Tensor | None, rule: Converge,
               step: int, steps: int) -> torch.Tensor:
    """(K,) bool: probes whose windowed loss stopped improving (all of them at the last step)."""
    last = torch.full(running.shape, step == steps, dtype=torch.bool)
    if previous is None or step < rule.min_steps:
        return last
    improved = (previous - running) / previous.abs().clamp_min(1e-12)
    return (improved < rule.tol).cpu() | last
