"""Toy model of superposition (Elhage et al. 2022) and how monosemantic its hidden code is.

Data: ``x`` in R^n, each feature independently 0 with probability ``S`` (sparsity), else
U(0, 1). Model (tied weights, ``W``: (m, n))::

    h  = W x                      # (m,) the hidden code that is probed downstream
    x' = ReLU(W^T h + b)          # (n,) reconstruction
    L  = E sum_i I_i (x_i - x'_i)^2,   importance I_i = decay^i

Two codes are trained with the same data, loss and optimiser:

- ``poly``: the standard model. At high sparsity it represents more than m features, packing
  them into near-antipodal pairs and other geometries (superposition): polysemantic.
- ``mono``: the same model with ``W >= 0`` (projected gradient: clamp after each step). With
  non-negative inputs and weights, interference between features sharing a dimension is always
  positive and cannot be cancelled by the ReLU the way antipodal interference is, so the model
  keeps (at most) one feature per dimension: a non-negative code in the spirit of NCL. Whether
  it does is measured, not assumed (``monosemanticity``).

A feature is *represented* when its column norm ``||W_:,i||`` exceeds a threshold (0.5 by
default); superposition means ``represented > m``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import NamedTuple

import torch

CODES = ("poly", "mono")


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run with one intra-op thread: the toy tensors are tiny, and on a shared CPU extra threads
    only spin (measured: 10x slower with 2 threads under load). Restores the old setting."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def sample_sparse(num: int, n_features: int, sparsity: float,
                  generator: torch.Generator) -> torch.Tensor:
    """(num, n_features) float32: each entry 0 with probability ``sparsity``, else U(0, 1)."""
    values = torch.rand(num, n_features, generator=generator)
    active = torch.rand(num, n_features, generator=generator) >= sparsity
    return values * active


def importance(n_features: int, decay: float) -> torch.Tensor:
    """(n_features,) importances ``decay ** i`` (1 for every feature when ``decay == 1``)."""
    return decay ** torch.arange(n_features, dtype=torch.float32)


class ToyModel(NamedTuple):
    """A trained toy model: ``W`` (m, n) and output bias ``b`` (n,)."""

    W: torch.Tensor
    b: torch.Tensor
    code: str
    final_loss: float

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, n) -> (N, m) hidden code ``h = x W^T``."""
        return x @ self.W.T

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """(N, n) -> (N, n) ``ReLU(h W + b)``."""
        return torch.relu(self.encode(x) @ self.W + self.b)


def train_toy_models(seeds: tuple[int, ...], n_features: int = 40, n_hidden: int = 20,
                     sparsity: float = 0.9, decay: float = 0.9, steps: int = 3000,
                     batch_size: int = 1024, lr: float = 1e-2) -> dict[tuple[int, str], ToyModel]:
    """Train a ``poly`` (standard) and a ``mono`` (``W >= 0``) toy model per seed, with Adam.

    All models train side by side as one batched problem (Adam is per-element, so they do not
    interact). For a seed, initialisation and every batch come from ``Generator(seed)``, and the
    two codes see the same batches. Deterministic on CPU. Returns ``{(seed, code): ToyModel}``.
    """
    with single_thread():
        return _train(seeds, n_features, n_hidden, sparsity, decay, steps, batch_size, lr)


def _train(seeds: tuple[int, ...], n_features: int, n_hidden: int, sparsity: float, decay: float,
           steps: int, batch_size: int, lr: float) -> dict[tuple[int, str], ToyModel]:
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    scale = (2.0 / (n_hidden + n_features)) ** 0.5
    init = torch.stack([torch.randn(n_hidden, n_features, generator=g) * scale for g in gens])
    # Instance order: (seed0, poly), (seed0, mono), (seed1, poly), ...
    W = torch.stack([init, init.abs()], dim=1).flatten(0, 1).requires_grad_(True)
    b = torch.zeros(W.shape[0], 1, n_features, requires_grad=True)
    is_mono = torch.tensor([c == "mono" for _ in seeds for c in CODES]).view(-1, 1, 1)
    imp = importance(n_features, decay)
    opt = torch.optim.Adam([W, b], lr=lr)
    per_instance = torch.zeros(W.shape[0])
    for _ in range(steps):
        x = torch.stack([sample_sparse(batch_size, n_features, sparsity, g) for g in gens])
        x = x.repeat_interleave(len(CODES), dim=0)  # (k, B, n)
        recon = torch.relu(x @ W.transpose(1, 2) @ W + b)
        per_instance = (imp * (x - recon).square()).sum(dim=2).mean(dim=1)
        opt.zero_grad(set_to_none=True)
        per_instance.sum().backward()
        opt.step()
        with torch.no_grad():
            W.copy_(torch.where(is_mono, W.clamp(min=0.0), W))
    W, b, losses = W.detach(), b.detach(), per_instance.detach()
    out: dict[tuple[int, str], ToyModel] = {}
    for i, (seed, code) in enumerate((s, c) for s in seeds for c in CODES):
        out[(seed, code)] = ToyModel(W[i].clone(), b[i, 0].clone(), code, float(losses[i]))
    return out


class Monosemanticity(NamedTuple):
    """How monosemantic a toy model's hidden dimensions are (all measured from ``W``)."""

    feature_norms: list[float]
    """(n,) ``||W_:,i||``, how strongly feature i is represented."""
    represented: int
    """Number of features with norm above the threshold; ``> m`` means superposition."""
    top_share: list[float]
    """(m,) per hidden dimension: share of its squared weight on its single top feature
    (1 = monosemantic, 1/n = spread evenly). Basis-dependent: the standard model's hidden basis
    is not privileged (any rotation of ``W`` is equally good), the ``W >= 0`` model's is."""
    mean_top_share: float
    """Mean of ``top_share`` over live dimensions (squared row norm above 1e-6)."""
    features_per_dim: list[int]
    """(m,) per hidden dimension: number of represented features with squared weight in it
    above 10% of that feature's squared norm."""
    dims_per_feature: float
    """Elhage's ``m / ||W||_F^2``: about 1 without superposition, below 1 with it."""
    max_interference: float
    """Largest ``|w_i . w_j| / (||w_i|| ||w_j||)`` over pairs of represented features i != j."""


def monosemanticity(W: torch.Tensor, threshold: float = 0.5) -> Monosemanticity:
    """Measures for ``W`` (m, n); ``threshold`` on column norms decides "represented"."""
    norms = W.norm(dim=0)
    rep = norms > threshold
    sq = W.square()
    row = sq.sum(dim=1)
    share = sq.max(dim=1).values / row.clamp_min(1e-12)
    live = row > 1e-6
    mean_share = float(share[live].mean()) if bool(live.any()) else 0.0
    frac = sq / sq.sum(dim=0, keepdim=True).clamp_min(1e-12)
    per_dim = ((frac > 0.1) & rep.unsqueeze(0)).sum(dim=1)
    unit = W[:, rep] / norms[rep].clamp_min(1e-12)
    gram = (unit.T @ unit).abs()
    gram.fill_diagonal_(0.0)
    inter = float(gram.max()) if gram.numel() > 1 else 0.0
    return Monosemanticity(
        feature_norms=[round(float(v), 6) for v in norms],
        represented=int(rep.sum()),
        top_share=[round(float(v), 6) for v in share],
        mean_top_share=round(mean_share, 6),
        features_per_dim=[int(v) for v in per_dim],
        dims_per_feature=round(float(W.shape[0] / sq.sum().clamp_min(1e-12)), 6),
        max_interference=round(inter, 6),
    )
