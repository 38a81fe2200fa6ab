"""Losses and quality measures of a sparse autoencoder: pure functions of tensors.

Shapes: ``recon`` and ``target`` (N, d).
"""

from __future__ import annotations

import torch


def normalized_mse(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean_i ||target_i - recon_i||^2 / ||target_i||^2 (the training loss; openai's)."""
    err = (recon - target).pow(2).sum(-1)
    return (err / target.pow(2).sum(-1).clamp_min(1e-12)).mean()


def auxk_loss(aux_recon: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """AuxK: how well the top dead latents (decoded without pre-bias) rebuild the residual
    e = ``target - recon`` (detached) of the main reconstruction, as openai's code scores it:
    sum_i ||e_i - e_hat_i||^2 / sum_i ||e_i - mean(e)||^2 over the batch (its normalised MSE,
    "only used for auxk"). Not a mean of per-sample ratios: one sample the SAE already
    reconstructs almost exactly would divide by ~0 and swamp the loss. 0 when the residual has
    no variance beyond float rounding (one sample, all alike)."""
    err = (aux_recon - residual).pow(2).sum()
    var = (residual - residual.mean(0)).pow(2).sum()
    varies = var > 1e-12 * residual.pow(2).sum()
    return torch.where(varies, err / var.clamp_min(1e-30), torch.zeros_like(err))


def fvu(recon: torch.Tensor, target: torch.Tensor) -> float:
    """Fraction of variance unexplained: sum ||target - recon||^2 / sum ||target - mean||^2."""
    err = (recon - target).double().pow(2).sum()
    var = (target.double() - target.double().mean(0)).pow(2).sum()
    return float(err / var.clamp_min(1e-30))


class RunningFVU:
    """FVU accumulated over batches (exact: sums of squares about the data mean)."""

    def __init__(self) -> None:
        self.err = 0.0
        self.sq = 0.0
        self.sum: torch.Tensor | None = None
        self.n = 0

    def update(self, recon: torch.Tensor, target: torch.Tensor) -> None:
        t = target.double()
        self.err += float((recon.double() - t).pow(2).sum())
        self.sq += float(t.pow(2).sum())
        self.sum = t.sum(0) if self.sum is None else self.sum + t.sum(0)
        self.n += t.shape[0]

    def value(self) -> float:
        if not self.n:
            return float("nan")
        # sum ||t - mean||^2 = sum ||t||^2 - n ||mean||^2
        var = self.sq - float(self.sum.pow(2).sum()) / self.n
        return self.err / max(var, 1e-30)
