"""Downstream robustness of the toy codes: linear classifiers under label and input noise.

Task (fixed, chosen before looking at any result): the ``n`` sparse features are dealt into
``C`` groups by index (feature ``i`` goes to group ``i mod C``, so every group holds important
and unimportant features alike) and the label is the group with the largest sum,
``y = argmax_k sum_{i in group k} x_i`` (ties, e.g. an all-zero ``x``, go to the lowest k).
A linear classifier on ``x`` itself solves it exactly; on a code ``h = W x`` it can only use
what ``W`` keeps.

Protocol, per seed and code: multinomial logistic regression on the standardised code
(train-set mean and std), full batch, Adam, fixed steps (nothing is selected on test data).

- label noise: ``round(rate * N)`` training labels moved to a uniformly drawn *other* class
  (``monorobust.perturb.symmetric_label_noise``); clean test labels.
- input noise: ``x + std * N(0, I)`` on the test inputs *before* encoding (not clipped: the toy
  features are not pixels), classifier trained on clean inputs and clean labels.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from monorobust.perturb.label_noise import symmetric_label_noise
from monorobust.seeding import derive_seed
from monorobust.theory.superposition import ToyModel, sample_sparse, single_thread


def group_argmax_labels(x: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N, n) -> (N,) int64: the group (``i mod C``) with the largest feature sum."""
    n = x.shape[1]
    groups = torch.zeros(n, num_classes, dtype=x.dtype)
    groups[torch.arange(n), torch.arange(n) % num_classes] = 1.0
    return (x @ groups).argmax(dim=1)


def fit_linear(h: torch.Tensor, labels: torch.Tensor, num_classes: int, steps: int = 300,
               lr: float = 0.05, weight_decay: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax regression for a stack of problems sharing one code.

    Args:
        h: (N, d) code (already standardised).
        labels: (K, N) int64, one label vector per problem (e.g. one per noise rate).
    Returns:
        weights (K, d, C) and biases (K, 1, C); zero initialisation, so deterministic.
    """
    k, d = labels.shape[0], h.shape[1]
    w = torch.zeros(k, d, num_classes, requires_grad=True)
    b = torch.zeros(k, 1, num_classes, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        logits = h.unsqueeze(0) @ w + b  # (K, N, C)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(),
                                                 reduction="sum") / labels.shape[1]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return w.detach(), b.detach()


def accuracy(h: torch.Tensor, labels: torch.Tensor, w: torch.Tensor,
             b: torch.Tensor) -> torch.Tensor:
    """(N, d) code, (N,) labels, (K, d, C), (K, 1, C) -> (K,) accuracies."""
    pred = (h.unsqueeze(0) @ w + b).argmax(dim=2)
    return (pred == labels.unsqueeze(0)).double().mean(dim=1)


class SeedResult(NamedTuple):
    """Test accuracies of one toy model's code for one seed."""

    label_noise: list[float]
    """Accuracy per label-noise rate (classifier trained on noisy labels)."""
    input_noise: list[float]
    """Accuracy per input-noise std (classifier trained clean; noisy test inputs)."""
    realised_rates: list[float]
    """Share of training labels actually changed, per requested rate."""


def robustness_sweep(model: ToyModel, seed: int, sparsity: float, num_classes: int,
                     label_rates: tuple[float, ...], noise_stds: tuple[float, ...],
                     n_train: int = 4000, n_test: int = 4000, steps: int = 300) -> SeedResult:
    """Accuracy of linear classifiers on ``model``'s code against label noise and input noise.

    The data, the label flips and the input noise depend only on ``seed`` (not on the code), so
    the poly and mono codes of one seed are compared on the very same samples; each rate's flips
    depend on ``seed`` and that rate only, so listing other rates leaves its accuracy unchanged.
    """
    with single_thread():
        return _sweep(model, seed, sparsity, num_classes, label_rates, noise_stds, n_train,
                      n_test, steps)


def _sweep(model: ToyModel, seed: int, sparsity: float, num_classes: int,
           label_rates: tuple[float, ...], noise_stds: tuple[float, ...], n_train: int,
           n_test: int, steps: int) -> SeedResult:
    gen = torch.Generator().manual_seed(derive_seed(seed, "downstream"))
    n = model.W.shape[1]
    x_train = sample_sparse(n_train, n, sparsity, gen)
    x_test = sample_sparse(n_test, n, sparsity, gen)
    y_train = group_argmax_labels(x_train, num_classes)
    y_test = group_argmax_labels(x_test, num_classes)
    # Each rate's flips and the input noise have generators of their own, so that a cell's draws
    # do not depend on which other rates are listed.
    noisy = [symmetric_label_noise(y_train, r, num_classes, torch.Generator().manual_seed(
        derive_seed(seed, "label_noise", float(r)))) for r in label_rates]
    eps = torch.randn(x_test.shape,
                      generator=torch.Generator().manual_seed(derive_seed(seed, "input_noise")))

    h_train = model.encode(x_train)
    mean, std = h_train.mean(dim=0), h_train.std(dim=0).clamp_min(1e-6)

    def code(x: torch.Tensor) -> torch.Tensor:
        return (model.encode(x) - mean) / std

    problems = torch.stack([y_train] + [nl.labels for nl in noisy])  # clean first
    w, b = fit_linear(code(x_train), problems, num_classes, steps=steps)
    acc_label = accuracy(code(x_test), y_test, w[1:], b[1:])
    acc_input = [float(accuracy(code(x_test + s * eps), y_test, w[:1], b[:1])[0])
                 for s in noise_stds]
    return SeedResult([round(float(a), 6) for a in acc_label], [round(a, 6) for a in acc_input],
                      [round(nl.realised_rate, 6) for nl in noisy])
