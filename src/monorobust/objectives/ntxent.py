"""NT-Xent (InfoNCE over two views; Chen et al. 2020, SimCLR) and its non-negative variant (NCL).

For a batch of N images seen twice, with L2-normalised embeddings z (2N, D) and temperature t,
the loss of view i whose positive is view p(i) (the other view of the same image) is

    l_i = -log( exp(z_i . z_p(i) / t) / sum_{j != i} exp(z_i . z_j / t) )

averaged over all 2N views. NCL (Wang et al. 2024) is the same loss on
``z = normalize(relu(g(f(x))))``: the ReLU before the normalisation is the whole difference.

Example::

    >>> z1, z2 = F.normalize(torch.randn(4, 8), dim=1), F.normalize(torch.randn(4, 8), dim=1)
    >>> nt_xent(z1, z2, temperature=0.2).shape
    torch.Size([])
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F


def embed(projection: torch.Tensor, nonnegative: bool) -> torch.Tensor:
    """(N, D) projector output -> (N, D) unit-norm embedding; ReLU first for NCL."""
    return F.normalize(F.relu(projection) if nonnegative else projection, dim=1)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2,
            gather: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Mean NT-Xent loss of two views.

    Args:
        z1, z2: (N, D) L2-normalised embeddings of the two views; row i of each is one image.
        temperature: the softmax temperature t.
        gather: for multi-process training, a function that concatenates a tensor (N, D) from
            every process into (world*N, D) with gradients flowing back to each process's rows
            (``monorobust.train.distributed``). Negatives then come from the global batch.

    Returns:
        The scalar loss, averaged over this process's 2N views.
    """
    z_local = torch.cat([z1, z2])                       # (2N, D): [view1; view2]
    n = z1.shape[0]
    if gather is None:
        z_all, offset, n_all = z_local, 0, n
    else:
        g1, g2 = gather(z1), gather(z2)                 # (W*N, D) each
        n_all = g1.shape[0]
        z_all = torch.cat([g1, g2])                     # (2*W*N, D)
        offset = _rank_offset(g1, z1)
    logits = z_local @ z_all.T / temperature            # (2N, 2*W*N)
    rows = torch.arange(2 * n, device=z1.device)
    own = torch.cat([rows[:n] + offset, rows[:n] + offset + n_all])   # column of each row itself
    positive = torch.cat([own[:n] + n_all, own[:n]])                  # the other view
    # Each row's own column out of the softmax. A scatter, not a one-hot mask: no (2N, 2WN)
    # mask to build, and one_hot checks its indices on the host (a sync) outside CUDA.
    logits = logits.scatter(1, own.unsqueeze(1), float("-inf"))
    return F.cross_entropy(logits, positive)


def _rank_offset(gathered: torch.Tensor, local: torch.Tensor) -> int:
    """Row where this process's block starts in the gathered tensor (blocks are in rank order)."""
    import torch.distributed as dist

    rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    return rank * local.shape[0]


def activity_penalty(z: torch.Tensor) -> torch.Tensor:
    """``-mean_d mean_i |z_id|``: the authors' optional NCL term against dead dimensions."""
    return -z.abs().mean(dim=0).mean()
