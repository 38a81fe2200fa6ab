"""TopK sparse autoencoder (Gao et al. 2024, openai/sparse_autoencoder), as the paper uses it.

    latents = ReLU(TopK(W_enc (h - b_pre) + b_lat, k))        (N, n)   k non-zeros per row at most
    recon   = W_dec latents + b_pre                           (N, d)

h (N, d) are the inputs (L2-normalised CL projector outputs), W_enc (n, d), W_dec (d, n) with
unit-norm columns, b_pre (d,), b_lat (n,). Training keeps the decoder columns at unit norm
(``project_decoder_grad_`` before each step, ``normalize_decoder_`` after it).

Training runs through ``TopKSAEFunction``: one autograd node that computes the loss and its
backward by hand. It decodes sparsely (gathering the k decoder columns of each sample), skips
the (N, d) input gradient that generic autograd computes only to reach b_pre (here a
vector-matrix product), and folds the loss's gradient into the forward.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F


class TopKSAE(nn.Module):
    def __init__(self, d_in: int, width: int, k: int, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.d_in, self.width, self.k = d_in, width, k
        dec = torch.randn(d_in, width, generator=generator)
        dec /= dec.norm(dim=0, keepdim=True)
        self.W_dec = nn.Parameter(dec)                        # (d, n), unit-norm columns
        self.W_enc = nn.Parameter(dec.T.clone())              # (n, d), tied at init (openai)
        self.b_pre = nn.Parameter(torch.zeros(d_in))          # (d,)
        self.b_lat = nn.Parameter(torch.zeros(width))         # (n,)

    def preacts(self, h: torch.Tensor) -> torch.Tensor:
        """(N, d) -> (N, n): W_enc (h - b_pre) + b_lat, before TopK."""
        return torch.addmm(self.b_lat, h - self.b_pre, self.W_enc.T)

    def encode_sparse(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, d) -> values (N, k) >= 0 and latent indices (N, k) of the kept latents."""
        vals, idx = self.preacts(h).topk(self.k, dim=-1, sorted=False)
        return vals.relu_(), idx

    def encode(self, h: torch.Tensor) -> torch.Tensor:
        """(N, d) -> dense latents (N, n) with at most k non-zeros per row, all >= 0."""
        vals, idx = self.encode_sparse(h)
        return torch.zeros(h.shape[0], self.width, dtype=vals.dtype,
                           device=vals.device).scatter_(1, idx, vals)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """(N, n) -> (N, d): W_dec latents + b_pre."""
        return torch.addmm(self.b_pre, latents, self.W_dec.T)

    def forward(self, h: torch.Tensor) -> "SAEOutput":
        """Loss (differentiable in the parameters), reconstruction and the TopK of ``h`` (N, d)."""
        loss, recon, vals, idx = TopKSAEFunction.apply(h, self.W_enc, self.b_lat, self.W_dec,
                                                       self.b_pre, self.k)
        return SAEOutput(loss, recon, vals, idx)

    @torch.no_grad()
    def normalize_decoder_(self) -> None:
        self.W_dec /= self.W_dec.norm(dim=0, keepdim=True).clamp_min(1e-12)

    @torch.no_grad()
    def project_decoder_grad_(self) -> None:
        """Remove the gradient component parallel to each (unit) decoder column."""
        g = self.W_dec.grad
        if g is not None:
            g -= (g * self.W_dec).sum(0, keepdim=True) * self.W_dec


class SAEOutput(NamedTuple):
    loss: torch.Tensor
    """Normalised MSE, mean_i ||h_i - recon_i||^2 / ||h_i||^2 (scalar, differentiable)."""
    recon: torch.Tensor
    """(N, d), without gradient."""
    values: torch.Tensor
    """(N, k) >= 0, the kept latents' values."""
    indices: torch.Tensor
    """(N, k), the kept latents."""


class TopKSAEFunction(torch.autograd.Function):
    """normalized_mse(W_dec ReLU(TopK(W_enc (h - b_pre) + b_lat)) + b_pre, h), by hand.

    One node for the encoder, TopK, decoder and loss: a dense encoder product, a sparse
    (gathered) decoder, and a backward of three matrix products and one vector-matrix
    product (no (N, d) gradient for h). Gradients flow to the parameters only.
    """

    @staticmethod
    def forward(ctx, h, W_enc, b_lat, W_dec, b_pre, k):
        x = h - b_pre                                          # (N, d)
        vals, idx = torch.addmm(b_lat, x, W_enc.T).topk(k, dim=-1, sorted=False)
        vals.relu_()                                           # (N, k)
        # Sparse decoding: recon_i = sum_j vals_ij W_dec[:, idx_ij], k columns per row gathered
        # (N k d work instead of the dense N n d).
        recon = F.embedding_bag(idx, W_dec.T.contiguous(), per_sample_weights=vals,
                                mode="sum").add_(b_pre)        # (N, d)
        err = recon - h
        # d loss / d recon = 2 (recon - h) / (N ||h_i||^2), the scale folded in now
        inv = h.pow(2).sum(-1, keepdim=True).clamp_min_(1e-12).reciprocal_()
        loss = (err.pow(2).sum(-1, keepdim=True) * inv).mean()
        ctx.save_for_backward(x, vals, idx, W_enc, W_dec, err.mul_(inv.mul_(2.0 / x.shape[0])))
        ctx.mark_non_differentiable(recon, vals, idx)
        return loss, recon, vals, idx

    @staticmethod
    def backward(ctx, g_loss, _g_recon, _g_vals, _g_idx):
        x, vals, idx, W_enc, W_dec, g_recon = ctx.saved_tensors
        g_recon = g_recon * g_loss                             # (N, d)
        lat = torch.zeros(x.shape[0], W_dec.shape[1], dtype=x.dtype, device=x.device)
        lat.scatter_(1, idx, vals)                             # (N, n), k non-zeros per row
        g_W_dec = g_recon.T @ lat                              # (d, n)
        # Gradient of the kept latents only: (N, k) gathered from (N, n); zero where ReLU cut.
        g_lat_k = (g_recon @ W_dec).gather(1, idx) * (vals > 0)
        g_pre = torch.zeros_like(lat).scatter_(1, idx, g_lat_k)   # (N, n), k non-zeros per row
        g_W_enc = g_pre.T @ x                                  # (n, d)
        g_b_lat = g_pre.sum(0)
        # b_pre enters twice: + in recon, - inside the encoder (a (n,) @ (n, d) product).
        g_b_pre = g_recon.sum(0) - g_b_lat @ W_enc
        return None, g_W_enc, g_b_lat, g_W_dec, g_b_pre, None
