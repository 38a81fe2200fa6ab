"""A projector head trained with CL or NCL on a frozen backbone's features (``frozen+cl/ncl``).

The backbone is frozen, so each training image's two augmented views are encoded once
(``views``: (2, N, D), ``evaluate.frozen``) and the head g (``models.projector``, the widths of
``pretrain.proj_hidden`` / ``proj_dim``) is trained on them with NT-Xent (``objectives``): the
CL loss on normalize(g(v)), NCL on normalize(relu(g(v))). Everything else (optimiser, epochs,
batch size, lr, temperature) is ``pretrain``'s, so the two heads differ in the objective only.
The head is cached in ``workdir`` (safetensors + JSON: config, seed and a fingerprint of the
views) so a rerun reloads it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
import torch.nn as nn

from monorobust.fields import to_dict
from monorobust.io import (atomic_write_bytes, atomic_write_text, checked_cache_bytes,
                           read_checked_cache)
from monorobust.models import projector
from monorobust.objectives import embed, nt_xent
from monorobust.train.config import PretrainConfig
from monorobust.train.optim import warmup_cosine

CHECKPOINT = "head.safetensors"


def _meta(views: torch.Tensor, cfg: PretrainConfig, objective: str, seed: int) -> dict:
    digest = hashlib.sha1(str(tuple(views.shape)).encode())
    digest.update(views.float().contiguous().numpy().tobytes())
    keys = ("proj_hidden", "proj_dim", "proj_batchnorm", "epochs", "batch_size", "lr",
            "weight_decay", "warmup_epochs", "temperature")
    return {"objective": objective, "seed": seed, "views_sha1": digest.hexdigest(),
            "config": {k: to_dict(cfg)[k] for k in keys}}


def train_head(views: torch.Tensor, cfg: PretrainConfig, objective: str, seed: int) -> nn.Module:
    """A projector trained with ``objective`` ("cl" or "ncl") on ``views`` (2, N, D)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)                    # nn.Linear's initialisation draws from it
    head = projector(views.shape[2], cfg.proj_hidden, cfg.proj_dim, cfg.proj_batchnorm)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n = views.shape[1]
    batch = min(cfg.batch_size, n)
    steps_per_epoch = max(n // batch, 1)
    sched = warmup_cosine(opt, int(cfg.warmup_epochs * steps_per_epoch),
                          cfg.epochs * steps_per_epoch)
    head.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(n, generator=gen)
        for i in range(steps_per_epoch):
            idx = order[i * batch:(i + 1) * batch]
            z1 = embed(head(views[0, idx]), objective == "ncl")
            z2 = embed(head(views[1, idx]), objective == "ncl")
            loss = nt_xent(z1, z2, cfg.temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return head.eval()


def fit_head_cached(views: torch.Tensor, cfg: PretrainConfig, objective: str, seed: int,
                    workdir: str | Path) -> nn.Module:
    """``train_head``, or the head cached in ``workdir`` when config, seed and views match."""
    path = Path(workdir) / CHECKPOINT
    meta = _meta(views, cfg, objective, seed)
    head = None
    if path.exists() and path.with_suffix(".json").exists():
        try:
            if json.loads(path.with_suffix(".json").read_text()) == meta and \
                    (state := read_checked_cache(path)) is not None:
                torch.manual_seed(seed)
                head = projector(views.shape[2], cfg.proj_hidden, cfg.proj_dim, cfg.proj_batchnorm)
                head.load_state_dict(state)
        except (ValueError, RuntimeError, OSError):   # damaged: train again over it
            head = None
    if head is None:
        head = train_head(views, cfg, objective, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, checked_cache_bytes(head.state_dict()))
        atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=1))
    return head.eval()
