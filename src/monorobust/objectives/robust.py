"""Noise-robust classification losses for the probe: the regularisation controls of a study.

For logits z (..., C), true class y and p = softmax(z):

    cross-entropy              CE   = -log p_y
    generalised CE  (GCE)      L_q  = (1 - p_y^q) / q                 Zhang & Sabuncu, NeurIPS 2018
    reverse CE      (RCE)      RCE  = -sum_k p_k log onehot(y)_k = -A (1 - p_y),  log 0 := A
    symmetric CE    (SCE)      SCE  = alpha CE + beta RCE              Wang et al., ICCV 2019

L_q tends to CE as q -> 0 and equals 1 - p_y at q = 1, i.e. half the mean absolute error
||onehot(y) - p||_1 = 2 (1 - p_y), the noise-tolerant but slowly-learning extreme. SCE keeps CE's
fast learning and adds RCE, which is bounded and symmetric (its sum over all classes y is a
constant), hence tolerant of symmetric noise. Wang et al. clamp log 0 to A = -4 in the paper (their
code clamps the one-hot to 1e-4, A = log 1e-4); we follow the paper.

Every loss takes logits of any leading shape (..., C) with targets (...), so K probes trained
together pass (K, B, C) / (K, B); ``reduction="none"`` gives the per-sample losses (...).

Example::

    >>> logits, y = torch.randn(8, 10), torch.randint(0, 10, (8,))
    >>> generalized_cross_entropy(logits, y, q=0.7).shape
    torch.Size([])
"""

from __future__ import annotations

import torch

from monorobust.errors import ConfigError


def _reduce(per_sample: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "none":
        return per_sample
    raise ConfigError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def _log_p_true(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p_y = z_y - logsumexp(z): (...) from logits (..., C) and targets (...).

    Stable like log-softmax, and several times faster on CPU for the probes' small C (PyTorch's
    log-softmax kernel is slow over a short last dimension; K probes at once hit it hard).
    """
    z_true = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return z_true - torch.logsumexp(logits, -1)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """-log p_y; logits (..., C), targets (...) int64 -> scalar (mean) or (...) (none)."""
    return _reduce(-_log_p_true(logits, targets), reduction)


def generalized_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, q: float = 0.7,
                              reduction: str = "mean") -> torch.Tensor:
    """(1 - p_y^q) / q, Zhang & Sabuncu 2018 (their default q = 0.7).

    Args:
        logits: (..., C). targets: (...) int64 class ids.
        q: in (0, 1]; -> 0 gives cross-entropy, 1 gives 1 - p_y (MAE / 2).
    """
    if not 0.0 < q <= 1.0:
        raise ConfigError(f"GCE q must be in (0, 1], got {q}")
    # p_y^q = exp(q log p_y): no underflow of p_y itself for confident wrong predictions.
    return _reduce((1.0 - torch.exp(q * _log_p_true(logits, targets))) / q, reduction)


def reverse_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, log_zero: float = -4.0,
                          reduction: str = "mean") -> torch.Tensor:
    """-sum_k p_k log onehot(y)_k with log 0 := ``log_zero`` (A), i.e. -A (1 - p_y)."""
    if not log_zero < 0:
        raise ConfigError(f"SCE log_zero (A) must be negative, got {log_zero}")
    return _reduce(-log_zero * (1.0 - torch.exp(_log_p_true(logits, targets))), reduction)


def symmetric_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.1,
                            beta: float = 1.0, log_zero: float = -4.0,
                            reduction: str = "mean") -> torch.Tensor:
    """alpha CE + beta RCE, Wang et al. 2019 (alpha 0.1, beta 1.0: their CIFAR-10 setting).

    Args:
        logits: (..., C). targets: (...) int64 class ids.
        alpha, beta: weights of CE and of RCE (>= 0, not both 0).
        log_zero: A, the value log 0 is clamped to in RCE (the paper's -4).
    """
    if alpha < 0 or beta < 0 or alpha + beta == 0:
        raise ConfigError(f"SCE alpha and beta must be >= 0 and not both 0, got {alpha}, {beta}")
    ce = cross_entropy(logits, targets, "none")
    rce = reverse_cross_entropy(logits, targets, log_zero, "none")
    return _reduce(alpha * ce + beta * rce, reduction)
