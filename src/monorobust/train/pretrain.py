"""Contrastive pretraining (SimCLR "cl" or non-negative "ncl") on Lightning Fabric.

Fabric owns the device, precision and strategy (DDP across GPUs and nodes); this loop owns the
science. Every epoch draws its shuffling from a generator seeded with ``(seed, epoch)`` and
each process's augmentations from one seeded with ``(seed, epoch, rank)``, so a run resumed from
the checkpoint of epoch k replays epochs k+1... exactly as an uninterrupted run does: no RNG
state needs saving (the model's initialisation depends on ``seed`` alone). Batches come from a
tensor on the device or from a DataLoader stream (``train.batches``); the loop is the same.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import torch
from tqdm.auto import tqdm

from monorobust.errors import ConfigError
from monorobust.fields import config_diff
from monorobust.models import ContrastiveModel, build_encoder, projector
from monorobust.objectives import activity_penalty, embed, nt_xent
from monorobust.train.augment import ApplyView, compiled_apply_view, simclr_views
from monorobust.train.batches import augment_generator, epoch_order, make_source
from monorobust.train.checkpoint import (checkpoint_epoch, checkpoint_path, epoch_checkpoints,
                                         CheckpointWriter, latest_checkpoint, load_checkpoint,
                                         load_latest_intact)
from monorobust.train.config import CUDA_GRAPH_MODES, PretrainConfig
from monorobust.train.distributed import gather_with_grad
from monorobust.train.logs import StepLog
from monorobust.train.optim import OPTIMIZERS, warmup_cosine
from monorobust.train.precision import resolve_precision

if TYPE_CHECKING:
    from monorobust.rundir import RunDir

OBJECTIVES = ("cl", "ncl")


class PretrainResult(NamedTuple):
    model: ContrastiveModel
    losses: list[float]
    """Mean training loss of every epoch (including epochs run before a resume)."""
    seconds: float
    """Wall time of the epochs run in this call (checkpoint writes included)."""
    images_per_second: float | None
    """Training images (both views of each) per second over those epochs, all processes
    together; None when the checkpoints already held every epoch."""
    steady_images_per_second: float | None = None
    """The same over those epochs but the first, which also holds torch.compile's compiling
    and the warm-up (tens of seconds on a GPU), up to the last epoch's end: the wait for its
    checkpoint's write, paid once a run, is left out. None with fewer than two epochs run."""


def channel_stats(images) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images (N, C, H, W), on the [0, 1] scale.

    From the first 20,000 images of a tensor, or 512 evenly spaced ones of a dataset that
    decodes from disk (a sample is plenty for a normalisation constant).
    """
    if isinstance(images, torch.Tensor):
        x = images[: min(len(images), 20000)]
    else:
        picks = torch.linspace(0, len(images) - 1, min(len(images), 512)).long().unique()
        x = torch.stack([images[int(i)] for i in picks])
    x = x.float().div_(255)
    return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp_min(1e-3).tolist()


def check_sync_batchnorm(cfg: PretrainConfig, world: int, device_type: str) -> None:
    """ConfigError when ``pretrain.sync_batchnorm`` would act where it cannot: several CPU
    processes (SyncBatchNorm has no CPU kernel). Commands call it before they claim a folder."""
    if cfg.sync_batchnorm and world > 1 and device_type == "cpu":
        raise ConfigError("pretrain.sync_batchnorm needs CUDA devices (SyncBatchNorm has no CPU "
                          "kernel); set it to false for CPU processes (--set "
                          "pretrain.sync_batchnorm=false)")


def build_model(cfg: PretrainConfig, image_shape: tuple[int, int, int], mean: list[float],
                std: list[float], seed: int) -> ContrastiveModel:
    """A freshly initialised model; initialisation depends only on ``seed``."""
    c, h, _ = image_shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone = build_encoder(cfg.encoder, c, h, cfg.width)
        proj = projector(backbone.out_dim, cfg.proj_hidden, cfg.proj_dim, cfg.proj_batchnorm)
        return ContrastiveModel(backbone, proj, mean, std)


def meta_model(cfg: PretrainConfig, image_shape: tuple[int, int, int]) -> ContrastiveModel:
    """The model ``cfg`` builds, on the meta device: its shapes, no memory."""
    with torch.device("meta"):
        return build_model(cfg, image_shape, [0.0] * image_shape[0], [1.0] * image_shape[0], 0)


def check_model_fits(cfg: PretrainConfig, image_shape: tuple[int, int, int],
                     device_type: str) -> ContrastiveModel:
    """``meta_model``; ConfigError, before any work, where its weights, their gradients and one
    optimiser state in fp32 already exceed the total memory of the device it trains on (a typo
    such as proj_hidden=163840000)."""
    from monorobust.checks import check_memory_need

    model = meta_model(cfg, image_shape)
    params = sum(p.numel() for p in model.parameters())
    check_memory_need(3 * 4 * params, device_type,
                      f"the pretraining model (pretrain.encoder {cfg.encoder}, width {cfg.width}, "
                      f"projector {model.backbone.out_dim}-{cfg.proj_hidden}-{cfg.proj_dim}) "
                      f"with {params:,} parameters",
                      "for them, their gradients and the optimiser's state in fp32",
                      "lower pretrain.width, pretrain.proj_hidden or pretrain.proj_dim")
    return model


def feature_width(cfg: PretrainConfig, model: ContrastiveModel, which: str) -> int:
    """The width of the features ``cfg``'s ``model`` (a meta one too) gives for ``which``
    (``probe.features``: "projector" or "backbone")."""
    return cfg.proj_dim if which == "projector" else model.backbone.out_dim


def view_function(cfg: PretrainConfig, model: torch.nn.Module,
                  compiled_model: torch.nn.Module) -> ApplyView | None:
    """``simclr_views``' ``apply_view``: compiled (``augment.compiled_apply_view``) where
    ``cfg.compile_augment`` is on and ``compiled`` compiled the model here, else None (eager)."""
    if cfg.compile_augment and compiled_model is not model:
        return compiled_apply_view(cfg.compile_mode)
    return None


def compiled(model: torch.nn.Module, cfg: PretrainConfig, device_type: str,
             world: int = 1) -> torch.nn.Module:
    """``model`` under ``torch.compile`` in ``cfg.compile_mode`` where ``cfg.compile`` is on
    (the same module's parameters and state_dict keys), else ``model`` itself.

    The CUDA-graph modes compile only for one CUDA process, where they were measured and
    tested: elsewhere there are no graphs to replay (a CPU would spend minutes compiling for
    nothing), and under DDP with SyncBatchNorm they have never run; those train eagerly (with a
    warning for several processes)."""
    if not cfg.compile:
        return model
    if cfg.compile_mode in CUDA_GRAPH_MODES and (device_type != "cuda" or world > 1):
        if world > 1:
            warnings.warn(f"pretrain.compile_mode {cfg.compile_mode} (CUDA graphs) is tested in "
                          f"one process only; these {world} processes train eagerly (--set "
                          "pretrain.compile=false to do so without this warning)", stacklevel=2)
        return model
    return torch.compile(model, mode=cfg.compile_mode)


@contextmanager
def cudnn_autotuner(on: bool) -> Iterator[None]:
    """cuDNN's autotuner (``torch.backends.cudnn.benchmark``) on within, where ``on``
    (``pretrain.cudnn_benchmark``), and torch's setting as it was after; untouched where not."""
    if not on:
        yield
        return
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def build_optimizer(model: torch.nn.Module, cfg: PretrainConfig) -> torch.optim.Optimizer:
    """``cfg.optimizer`` over ``model``'s parameters; LARS's update compiled where
    ``cfg.compile_optimizer`` says so."""
    optimizer = OPTIMIZERS.get(cfg.optimizer)(model.parameters(), cfg.lr, cfg.weight_decay)
    if cfg.compile_optimizer:
        optimizer.compile_update()
    return optimizer


def contrastive_loss(model: torch.nn.Module, x: torch.Tensor, cfg: PretrainConfig, objective: str,
                     gen: torch.Generator, gather=None,
                     apply_view: ApplyView | None = None) -> torch.Tensor:
    """Two augmented views of ``x`` (N, C, H, W) in [0, 1] -> scalar NT-Xent (+ NCL term);
    ``apply_view`` as in ``simclr_views`` (``view_function``)."""
    nonneg = objective == "ncl"
    if cfg.compile and cfg.compile_mode in CUDA_GRAPH_MODES:
        # A new training step: CUDA graphs may reuse the last step's output memory.
        torch.compiler.cudagraph_mark_step_begin()
    v1, v2 = simclr_views(x, cfg.augment, gen, apply_view=apply_view)   # one pass on a GPU
    # One forward per view (BatchNorm's statistics are per view, as in SimCLR). float(): under
    # bf16/fp16 autocast the loss and its normalisation stay in fp32.
    z1 = embed(model(_layout(v1, cfg)).float(), nonneg)
    z2 = embed(model(_layout(v2, cfg)).float(), nonneg)
    loss = nt_xent(z1, z2, cfg.temperature, gather=gather)
    if nonneg and cfg.ncl_activity_weight:
        loss = loss + cfg.ncl_activity_weight * activity_penalty(torch.cat([z1, z2]))
    return loss


def _diverged(model: torch.nn.Module) -> bool:
    """Whether any weight of ``model`` is NaN or inf."""
    return not all(bool(torch.isfinite(p).all()) for p in model.parameters())


def check_batch_fits(cfg: PretrainConfig, images: int, world: int) -> None:
    """ConfigError unless one batch per process fits in the ``images`` training images."""
    if images < cfg.batch_size * world:
        raise ConfigError(f"pretrain.batch_size {cfg.batch_size} x {world} processes exceeds the "
                          f"{images} training images; lower the batch size")


def _layout(x: torch.Tensor, cfg: PretrainConfig) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if cfg.channels_last else x


def pretrain(images, cfg: PretrainConfig, objective: str, seed: int,
             out_dir: str | Path, fabric=None, progress: bool = True,
             stop_after_steps: int | None = None) -> PretrainResult:
    """Pretrain on uint8 ``images`` (N, C, H, W), resuming from ``out_dir``'s last checkpoint.

    ``images`` is a tensor (kept on the device) or a dataset whose items are uint8 (C, H, W)
    tensors with a ``shape`` attribute (streamed by DataLoader workers, e.g. an image folder);
    see ``monorobust.train.batches``. The loop is the same for both.

    Args:
        objective: "cl" (SimCLR) or "ncl" (ReLU before the normalisation).
        out_dir: where ``epoch-XXXX.safetensors`` checkpoints are written after every epoch.
        fabric: a launched ``lightning_fabric.Fabric``; a single-process CPU one by default.
        stop_after_steps: stop abruptly after this many optimiser steps of this call, without
            a checkpoint (simulates a crash in tests).
    """
    from lightning_fabric import Fabric

    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}")
    fabric = fabric or Fabric(accelerator="cpu", devices=1,
                              precision=resolve_precision(cfg.precision, "cpu").precision)
    out_dir = Path(out_dir)
    world, rank, device = fabric.world_size, fabric.global_rank, fabric.device
    check_batch_fits(cfg, len(images), world)
    steps_per_epoch = len(images) // (cfg.batch_size * world)
    check_sync_batchnorm(cfg, world, device.type)
    mean, std = channel_stats(images)
    model = build_model(cfg, tuple(images.shape[1:]), mean, std, seed)
    if cfg.sync_batchnorm and world > 1:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)   # same state_dict keys
    # On the device before the optimiser state is loaded, so that state lands there too.
    model = model.to(device, memory_format=torch.channels_last if cfg.channels_last
                     else torch.preserve_format)
    optimizer = build_optimizer(model, cfg)
    scheduler = warmup_cosine(optimizer, int(cfg.warmup_epochs * steps_per_epoch),
                              cfg.epochs * steps_per_epoch)
    start_epoch, losses = _resume(out_dir, model, optimizer, scheduler, cfg, objective, seed)
    if rank == 0:
        # Writes a killed run left unfinished (never renamed into place, never read): at paper
        # scale each is up to 0.4 GB.
        for unfinished in out_dir.glob(".epoch-*.tmp"):          # checkpoint or sidecar
            unfinished.unlink(missing_ok=True)
    cmodel = compiled(model, cfg, device.type, world)
    apply_view = view_function(cfg, model, cmodel)
    fmodel, foptimizer = fabric.setup(cmodel, optimizer)
    gather = gather_with_grad if world > 1 else None
    source = make_source(images, device, world, rank, cfg.batch_size, cfg.loader_workers)
    per_epoch = steps_per_epoch * cfg.batch_size * world         # images, all processes
    started, steps_done, first_done, last_done = time.perf_counter(), 0, None, None
    log = StepLog(cfg.logger, out_dir, cfg.batch_size * world) if rank == 0 else None
    bar = tqdm(range(start_epoch, cfg.epochs), desc=f"pretrain {objective} seed {seed}",
               disable=not progress or rank != 0, initial=start_epoch, total=cfg.epochs)
    # Each epoch's checkpoint is written while the next one trains (CheckpointWriter); the
    # last is on disk before this returns, and before the other processes go on.
    with CheckpointWriter() as writer, cudnn_autotuner(cfg.cudnn_benchmark):
        for epoch in bar:
            epoch_started = time.perf_counter()
            fmodel.train()
            order = epoch_order(seed, epoch, len(images))
            gen = augment_generator(seed, epoch, rank, device)
            total = torch.zeros((), device=device)
            for batch in source.batches(order, steps_per_epoch, world, rank, cfg.batch_size):
                x = batch.float().div_(255)
                loss = contrastive_loss(fmodel, x, cfg, objective, gen, gather, apply_view)
                foptimizer.zero_grad(set_to_none=True)
                fabric.backward(loss)
                foptimizer.step()
                if log is not None:
                    log.step(loss, optimizer.param_groups[0]["lr"], time.perf_counter())
                scheduler.step()
                total += loss.detach()
                steps_done += 1
                if stop_after_steps is not None and steps_done >= stop_after_steps:
                    raise InterruptedError(f"stopped after {steps_done} steps (requested)")
            # float() waits for the device, so the epoch's time below is the real one.
            losses.append(float(fabric.all_reduce(total, reduce_op="mean")) / steps_per_epoch)
            if not math.isfinite(losses[-1]) and _diverged(model):
                # Before the checkpoint: a diverged encoder must not be saved as a finished
                # epoch. (16-mixed: a step whose loss overflowed is skipped by the grad scaler,
                # weights intact.)
                raise ConfigError(f"pretraining {objective} seed {seed} diverged: the mean loss "
                                  f"of epoch {epoch + 1} is {losses[-1]} (pretrain.lr {cfg.lr}); "
                                  "lower pretrain.lr or raise pretrain.warmup_epochs, in a new "
                                  "--out")
            if log is not None:
                log.end_epoch(epoch, epoch * steps_per_epoch, epoch_started)
            bar.set_postfix(loss=f"{losses[-1]:.4f}",
                            img_s=f"{per_epoch / (time.perf_counter() - epoch_started):.0f}")
            if rank == 0:
                _save(writer, out_dir, epoch + 1, model, optimizer, scheduler, cfg, objective,
                      seed, losses)
            fabric.barrier()
            last_done = time.perf_counter()
            first_done = first_done or last_done
    fabric.barrier()
    if log is not None:
        log.close()
    ended = time.perf_counter()
    seconds, epochs_run = ended - started, cfg.epochs - start_epoch
    rate = epochs_run * per_epoch / seconds if epochs_run else None
    # The epochs after the first, each checkpoint's copy and hand-over included, the wait for
    # the last one's write not (a run pays it once, whatever its length).
    steady = (epochs_run - 1) * per_epoch / (last_done - first_done) if epochs_run > 1 else None
    return PretrainResult(model, losses, seconds, rate, steady)


# Keys that change speed or bookkeeping but not the numbers a run computes (a run folder's
# own such keys: experiment._RESUMABLE_KEYS).
RESUMABLE_CHANGES = ("keep_checkpoints", "loader_workers", "compile", "compile_mode",
                     "compile_optimizer", "compile_augment", "cudnn_benchmark", "logger")


def _resume(out_dir: Path, model, optimizer, scheduler, cfg: PretrainConfig, objective: str,
            seed: int) -> tuple[int, list[float]]:
    """Load the last intact checkpoint in ``out_dir`` into the objects; ``(next epoch, losses)``.

    Damaged newer checkpoints are skipped with a warning (``load_latest_intact``); their epochs
    are run again, and give the same numbers, since every epoch's randomness is seeded.
    """
    from dataclasses import asdict

    if (found := load_latest_intact(out_dir)) is None:
        return 0, []
    _, states, meta = found
    now = json.loads(json.dumps(asdict(cfg)))
    then = {**json.loads(json.dumps(asdict(PretrainConfig()))), **meta["config"]}   # older files
    changed = config_diff(then, now, ignore=RESUMABLE_CHANGES)
    if changed or meta["objective"] != objective or meta["seed"] != seed:
        raise ConfigError(f"{out_dir} holds checkpoints of a different pretraining (differs in: "
                          f"{', '.join(changed) or 'objective/seed'}); use a new --out or delete it")
    model.load_state_dict(states["model"])
    optimizer.load_state_dict(states["optimizer"])
    scheduler.load_state_dict(states["scheduler"])
    return int(meta["epoch"]), list(meta["losses"])


def _save(writer: CheckpointWriter, out_dir: Path, epoch: int, model, optimizer, scheduler,
          cfg: PretrainConfig, objective: str, seed: int, losses: list[float]) -> None:
    from dataclasses import asdict

    meta = {"kind": "monorobust.pretrain", "epoch": epoch, "objective": objective, "seed": seed,
            "losses": list(losses), "config": json.loads(json.dumps(asdict(cfg)))}
    states = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
              "scheduler": scheduler.state_dict()}

    def prune() -> None:
        found = epoch_checkpoints(out_dir)
        # Files of later epochs can only be damaged ones this run fell back from: drop them, so
        # that resuming never meets them again and they do not count among the kept ones.
        newer = [p for p in found if checkpoint_epoch(p) > epoch]
        older = [p for p in found if checkpoint_epoch(p) <= epoch][:-cfg.keep_checkpoints]
        for p in newer + older:
            p.unlink(missing_ok=True)
            p.with_suffix(".json").unlink(missing_ok=True)

    writer.write(checkpoint_path(out_dir, epoch), states, meta, then=prune)


def load_pretrained(path: str | Path, image_shape: tuple[int, int, int]) -> ContrastiveModel:
    """Rebuild a model from a pretraining checkpoint (its config is in the file)."""
    from monorobust.fields import build_dataclass

    states, meta = load_checkpoint(path)
    cfg = build_dataclass(PretrainConfig, meta["config"], "pretrain")
    mean = states["model"]["normalize.mean"].flatten().tolist()
    std = states["model"]["normalize.std"].flatten().tolist()
    model = build_model(cfg, image_shape, mean, std, seed=0)
    model.load_state_dict(states["model"])
    return model.eval()


def finished_pretraining(folder: RunDir, objective: str, seed: int, epochs: int) -> Path:
    """The last checkpoint of a run's pretraining of ``objective`` and ``seed``, which must hold
    all ``epochs`` epochs: an encoder whose training stopped early is not the run's, so a
    ``ConfigError`` naming the fix when there is none or it is unfinished. The fix is
    ``monorobust pretrain``, not ``run``: a run whose rows are all written pretrains nothing, so
    it never replaces a damaged last checkpoint that was deleted."""
    out_dir = folder.checkpoints(objective, seed)
    latest = latest_checkpoint(out_dir) if out_dir.is_dir() else None
    done = 0 if latest is None else checkpoint_epoch(latest)
    if done < epochs:
        raise ConfigError(f"the {objective} encoder of seed {seed} has trained {done} of "
                          f"{epochs} epochs (in {out_dir}); finish its pretraining first "
                          f"(`monorobust pretrain --preset {folder.root / folder.CONFIG} --out "
                          f"{folder.root} --objective {objective} --seeds {seed}`)")
    return latest
