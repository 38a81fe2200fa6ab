"""TopK sparse autoencoder (Gao et al. 2024, openai/sparse_autoencoder), as the paper uses it.

    latents = ReLU(TopK(W_enc (h - b_pre) + b_lat, k))        (N, n)   k non-zeros per row at most
    recon   = W_dec latents + b_pre                           (N, d)

h (N, d) are the inputs (L2-normalised CL projector outputs), W_enc (n, d), W_dec (d, n) with
unit-norm columns, b_pre (d,), b_lat (n,). Training keeps the decoder columns at unit norm
(``project_decoder_grad_`` before each step, ``normalize_decoder_`` after it).

Training runs through ``TopKSAEFunction``: one autograd node that computes the forward and the
backward by hand. It skips the (N, d) input gradient that generic autograd computes only to
reach b_pre (here a vector-matrix product), and works on the (N, k) values and indices of the
TopK instead of dense (N, n) intermediates wherever that is cheaper.
"""

from __future__ import annotations

import torch
import torch.nn as nn


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

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Differentiable ``(recon (N, d), values (N, k), indices (N, k))``."""
        return TopKSAEFunction.apply(h, self.W_enc, self.b_lat, self.W_dec, self.b_pre, self.k)

    @torch.no_grad()
    def normalize_decoder_(self) -> None:
        self.W_dec /= self.W_dec.norm(dim=0, keepdim=True).clamp_min(1e-12)

    @torch.no_grad()
    def project_decoder_grad_(self) -> None:
        """Remove the gradient component parallel to each (unit) decoder column."""
        g = self.W_dec.grad
        if g is not None:
            g -= (g * self.W_dec).sum(0, keepdim=True) * self.W_dec


class TopKSAEFunction(torch.autograd.Function):
    """recon = W_dec ReLU(TopK(W_enc (h - b_pre) + b_lat)) + b_pre with a hand-written backward.

    Gradients flow to the parameters only (not to h). The TopK values/indices are outputs
    without gradient (the losses use ``recon``; AuxK takes its own path through autograd).
    """

    @staticmethod
    def forward(ctx, h, W_enc, b_lat, W_dec, b_pre, k):
        x = h - b_pre                                          # (N, d)
        vals, idx = torch.addmm(b_lat, x, W_enc.T).topk(k, dim=-1, sorted=False)
        vals.relu_()                                           # (N, k)
        lat = torch.zeros(x.shape[0], W_dec.shape[1], dtype=x.dtype, device=x.device)
        lat.scatter_(1, idx, vals)                             # (N, n), k non-zeros per row
        recon = torch.addmm(b_pre, lat, W_dec.T)               # (N, d)
        ctx.save_for_backward(x, lat, idx, W_enc, W_dec)
        ctx.mark_non_differentiable(vals, idx)
        return recon, vals, idx

    @staticmethod
    def backward(ctx, g_recon, _g_vals, _g_idx):
        x, lat, idx, W_enc, W_dec = ctx.saved_tensors
        g_W_dec = g_recon.T @ lat                              # (d, n)
        # Gradient of the kept latents only: (N, k) gathered from (N, n); zero where ReLU cut.
        g_lat_k = (g_recon @ W_dec).gather(1, idx) * (lat.gather(1, idx) > 0)
        g_pre = torch.zeros_like(lat).scatter_(1, idx, g_lat_k)   # (N, n), k non-zeros per row
        g_W_enc = g_pre.T @ x                                  # (n, d)
        g_b_lat = g_pre.sum(0)
        # b_pre enters twice: + in recon, - inside the encoder (a (n,) @ (n, d) product).
        g_b_pre = g_recon.sum(0) - g_b_lat @ W_enc
        return None, g_W_enc, g_b_lat, g_W_dec, g_b_pre, None
