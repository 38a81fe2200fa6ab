"""Contrastive pretraining (SimCLR "cl" or non-negative "ncl") on Lightning Fabric.

Fabric owns the device, precision and strategy (DDP across GPUs and nodes); this loop owns the
science. Every epoch draws its shuffling and augmentations from a generator seeded with
``(seed, epoch)``, so a run resumed from the checkpoint of epoch k replays epochs k+1... exactly
as an uninterrupted run does: no RNG state needs saving.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import NamedTuple

import torch
from tqdm.auto import tqdm

from monorobust.models import ContrastiveModel, build_encoder, projector
from monorobust.objectives import activity_penalty, embed, nt_xent
from monorobust.train.augment import simclr_augment
from monorobust.train.checkpoint import checkpoint_path, latest_checkpoint, load_checkpoint, save_checkpoint
from monorobust.train.config import PretrainConfig
from monorobust.train.optim import OPTIMIZERS, warmup_cosine

OBJECTIVES = ("cl", "ncl")


class PretrainResult(NamedTuple):
    model: ContrastiveModel
    losses: list[float]
    """Mean training loss of every epoch (including epochs run before a resume)."""
    seconds: float
    """Wall time of the epochs run in this call."""


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images (N, C, H, W), on the [0, 1] scale."""
    x = images[: min(len(images), 20000)].float().div_(255)
    return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()


def build_model(cfg: PretrainConfig, image_shape: tuple[int, int, int], mean: list[float],
                std: list[float], seed: int) -> ContrastiveModel:
    """A freshly initialised model; initialisation depends only on ``seed``."""
    c, h, _ = image_shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone = build_encoder(cfg.encoder, c, h, cfg.width)
        proj = projector(backbone.out_dim, cfg.proj_hidden, cfg.proj_dim, cfg.proj_batchnorm)
        return ContrastiveModel(backbone, proj, mean, std)


def epoch_generator(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed * 100_003 + epoch)


def contrastive_loss(model: torch.nn.Module, x: torch.Tensor, cfg: PretrainConfig, objective: str,
                     gen: torch.Generator, gather=None) -> torch.Tensor:
    """Two augmented views of ``x`` (N, C, H, W) in [0, 1] -> scalar NT-Xent (+ NCL term)."""
    nonneg = objective == "ncl"
    z1 = embed(model(simclr_augment(x, cfg.augment, gen)), nonneg)
    z2 = embed(model(simclr_augment(x, cfg.augment, gen)), nonneg)
    loss = nt_xent(z1, z2, cfg.temperature, gather=gather)
    if nonneg and cfg.ncl_activity_weight:
        loss = loss + cfg.ncl_activity_weight * activity_penalty(torch.cat([z1, z2]))
    return loss


def pretrain(images: torch.Tensor, cfg: PretrainConfig, objective: str, seed: int,
             out_dir: str | Path, fabric=None, progress: bool = True,
             stop_after_steps: int | None = None) -> PretrainResult:
    """Pretrain on uint8 ``images`` (N, C, H, W), resuming from ``out_dir``'s last checkpoint.

    Args:
        objective: "cl" (SimCLR) or "ncl" (ReLU before the normalisation).
        out_dir: where ``epoch-XXXX.safetensors`` checkpoints are written after every epoch.
        fabric: a launched ``lightning.fabric.Fabric``; a single-process CPU one by default.
        stop_after_steps: stop abruptly after this many optimiser steps of this call, without
            a checkpoint (simulates a crash in tests).
    """
    from lightning.fabric import Fabric

    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}")
    fabric = fabric or Fabric(accelerator="cpu", devices=1, precision=cfg.precision)
    out_dir = Path(out_dir)
    mean, std = channel_stats(images)
    model = build_model(cfg, tuple(images.shape[1:]), mean, std, seed)
    optimizer = OPTIMIZERS.get(cfg.optimizer)(model.parameters(), cfg.lr, cfg.weight_decay)
    world, rank = fabric.world_size, fabric.global_rank
    steps_per_epoch = len(images) // (cfg.batch_size * world)
    if steps_per_epoch < 1:
        from monorobust.errors import ConfigError
        raise ConfigError(f"pretrain.batch_size {cfg.batch_size} x {world} processes exceeds the "
                          f"{len(images)} training images; lower the batch size")
    scheduler = warmup_cosine(optimizer, int(cfg.warmup_epochs * steps_per_epoch),
                              cfg.epochs * steps_per_epoch)
    start_epoch, losses = 0, []
    if (last := latest_checkpoint(out_dir)) is not None:
        states, meta = load_checkpoint(last)
        model.load_state_dict(states["model"])
        optimizer.load_state_dict(states["optimizer"])
        scheduler.load_state_dict(states["scheduler"])
        start_epoch, losses = int(meta["epoch"]), list(meta["losses"])
    fmodel, foptimizer = fabric.setup(model, optimizer)
    gather = _gather_fn(fabric) if world > 1 else None
    data = images.to(fabric.device)
    started, steps_done = time.perf_counter(), 0
    bar = tqdm(range(start_epoch, cfg.epochs), desc=f"pretrain {objective} seed {seed}",
               disable=not progress or rank != 0, initial=start_epoch, total=cfg.epochs)
    for epoch in bar:
        fmodel.train()
        gen = epoch_generator(seed, epoch, fabric.device)
        perm = torch.randperm(len(data), generator=gen, device=fabric.device)
        total = torch.zeros((), device=fabric.device)
        for step in range(steps_per_epoch):
            idx = perm[(step * world + rank) * cfg.batch_size:(step * world + rank + 1) * cfg.batch_size]
            x = data[idx].float().div_(255)
            loss = contrastive_loss(fmodel, x, cfg, objective, gen, gather)
            foptimizer.zero_grad(set_to_none=True)
            fabric.backward(loss)
            foptimizer.step()
            scheduler.step()
            total += loss.detach()
            steps_done += 1
            if stop_after_steps is not None and steps_done >= stop_after_steps:
                raise InterruptedError(f"stopped after {steps_done} steps (requested)")
        losses.append(float(fabric.all_reduce(total, reduce_op="mean")) / steps_per_epoch)
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
        if rank == 0:
            _save(out_dir, epoch + 1, model, optimizer, scheduler, cfg, objective, seed, losses)
        fabric.barrier()
    return PretrainResult(model, losses, time.perf_counter() - started)


def _gather_fn(fabric):
    from monorobust.train.distributed import gather_with_grad

    return gather_with_grad


def _save(out_dir: Path, epoch: int, model, optimizer, scheduler, cfg: PretrainConfig,
          objective: str, seed: int, losses: list[float]) -> None:
    from dataclasses import asdict

    meta = {"kind": "monorobust.pretrain", "epoch": epoch, "objective": objective, "seed": seed,
            "losses": losses, "config": json.loads(json.dumps(asdict(cfg)))}
    states = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
              "scheduler": scheduler.state_dict()}
    save_checkpoint(checkpoint_path(out_dir, epoch), states, meta)
    old = sorted(out_dir.glob("epoch-*.safetensors"))[:-cfg.keep_checkpoints]
    for p in old:
        p.unlink(missing_ok=True)
        p.with_suffix(".json").unlink(missing_ok=True)


def load_pretrained(path: str | Path, image_shape: tuple[int, int, int]) -> ContrastiveModel:
    """Rebuild a model from a pretraining checkpoint (its config is in the file)."""
    from monorobust.config import build_dataclass

    states, meta = load_checkpoint(path)
    cfg = build_dataclass(PretrainConfig, meta["config"], "pretrain")
    mean = states["model"]["normalize.mean"].flatten().tolist()
    std = states["model"]["normalize.std"].flatten().tolist()
    model = build_model(cfg, image_shape, mean, std, seed=0)
    model.load_state_dict(states["model"])
    return model.eval()
