"""Autograd-aware all-gather for the contrastive loss across processes, and what a process
sees when another one of its run goes away."""

from __future__ import annotations

import torch
import torch.distributed as dist


class _GatherWithGrad(torch.autograd.Function):
    """All-gather whose backward sums the gradient of every copy back into its own process."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.zeros_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        n = grad.shape[0] // dist.get_world_size()
        rank = dist.get_rank()
        return grad[rank * n:(rank + 1) * n]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """(N, D) on each of W processes -> (W*N, D) in rank order, differentiable."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    return _GatherWithGrad.apply(x)


# What gloo and NCCL say when the other end of a collective has gone (killed, out of memory):
# gloo raises a plain RuntimeError, so its message is what tells it apart.
_PEER_GONE = ("Connection reset by peer", "Connection closed by peer", "Broken pipe",
              "NCCL communicator was aborted", "remote process exited")


def lost_peer(err: BaseException) -> str | None:
    """What a collective said when it failed because another process of this multi-process
    run went away (rather than by a fault of this process's own); None for any other error."""
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return None
    said = next((s for s in _PEER_GONE if s in str(err)), None)
    if said is None and isinstance(err, getattr(dist, "DistNetworkError", ())):
        said = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
    return said
