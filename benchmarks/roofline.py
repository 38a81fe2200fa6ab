"""Shared measurements of the speed benchmarks: matmul peak, counted FLOPs, steady-state steps.

Imported by ``bench_roofline.py`` and ``gpu_check.py`` (run as scripts, this folder is on the
path). A share of the peak is counted FLOPs (``torch.utils.flop_counter.FlopCounterMode``:
matrix products and convolutions only, forward and backward) per second, divided by what a
large ``torch.matmul`` reaches on the same device and dtype: the practical ceiling, measured,
rather than a data-sheet number.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch

from monorobust.train import PretrainConfig, build_model
from monorobust.train.batches import augment_generator
from monorobust.train.pretrain import (build_optimizer, compiled, contrastive_loss, cudnn_autotuner,
                                      view_function)


class Speed(NamedTuple):
    items_per_second: float
    """Images (or samples, or probe rows) per second at steady state."""
    gflops_per_second: float
    """Counted model FLOPs per second (GFLOP/s)."""
    flops_per_step: int
    ops_per_step: int | None = None
    """PyTorch operators dispatched by one step (eager only; ``count_ops``)."""
    host_syncs_per_step: int | None = None
    """Times one step made the host wait for the GPU (``count_host_syncs``; None off CUDA)."""


def sync(device: torch.device | str) -> None:
    """Wait for queued device work, so that wall time covers it."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def matmul_peak_gflops(device: str, dtype: torch.dtype, n: int = 4096, repeats: int = 5) -> float:
    """Best GFLOP/s of an (n, n) @ (n, n) ``torch.matmul`` in ``dtype`` on ``device``."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    torch.matmul(a, b)                                  # warm-up: kernels picked, caches filled
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        started = time.perf_counter()
        torch.matmul(a, b)
        sync(device)
        best = min(best, time.perf_counter() - started)
    return 2 * n ** 3 / best / 1e9


def count_flops(step: Callable[[], object]) -> int:
    """FLOPs (matrix products, convolutions) of one call of ``step``, backward included."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def count_ops(step: Callable[[], object]) -> int:
    """PyTorch operators one call of ``step`` dispatches (views included): on a GPU in eager
    mode each costs the host a few microseconds, however small its kernel."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        ops = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Count.ops += 1
            return func(*args, **(kwargs or {}))

    with Count():
        step()
    return Count.ops


def host_sync_sites(run: Callable[[], object]) -> Counter[str] | None:
    """Where one call of ``run`` made the host wait for the GPU (``.item()``, a copy to the
    host, a shape that depends on the data...), as ``torch.cuda.set_sync_debug_mode`` reports
    them: ``file:line`` of the Python line that asked, and how often; None off CUDA, where
    nothing waits for a device."""
    if not torch.cuda.is_available():
        return None
    import warnings

    previous = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            run()
        finally:
            torch.cuda.set_sync_debug_mode(previous)
    return Counter(f"{w.filename}:{w.lineno}" for w in caught if "synchronizing" in str(w.message))


def count_host_syncs(run: Callable[[], object]) -> int | None:
    """Times one call of ``run`` made the host wait for the GPU (``host_sync_sites``)."""
    sites = host_sync_sites(run)
    return None if sites is None else sum(sites.values())


def host_syncs_per_step(run: Callable[[int], object], steps: int) -> float | None:
    """Host waits each step of a loop adds: ``run(n)`` runs a loop of n steps, and what a call
    pays once (setup, reading results at the end) cancels in ``run(2 * steps) - run(steps)``.
    Counted after one uncounted ``run(steps)`` (first-call work: kernel choice, lazy init),
    which runs off CUDA too (the loops are exercised; the count is None). Each count is the
    fewer of two calls: a wait that comes now and then (seen on an H200: one call of four in
    the pretraining loop waited once more) is not one that every step makes."""
    run(steps)
    if not torch.cuda.is_available():
        return None
    once = min(count_host_syncs(lambda: run(steps)) for _ in range(2))
    twice = min(count_host_syncs(lambda: run(2 * steps)) for _ in range(2))
    return (twice - once) / steps


def training_loops(device: str, folder: Path, preset: str = "fmnist-resnet18",
                   ) -> dict[str, Callable[[int], object]]:
    """The three training loops of a run, each as ``loop(steps)`` at tiny size on ``device``
    with ``preset``'s settings (optimisers, precision, layout, augmentations): ``pretrain``
    (``train.pretrain``, NCL, into a fresh checkpoint folder under ``folder`` each call),
    ``sae`` (``sae.train_sae``) and ``probes`` (``evaluate.train_probes``, 4 probes at once).
    For ``host_syncs_per_step``: up to 16 steps stay within one epoch of each (pretraining:
    one epoch of ``steps`` batches), so per-epoch work does not count as per-step."""
    import itertools
    from dataclasses import replace

    from lightning_fabric import Fabric

    from monorobust.config import load_config
    from monorobust.evaluate import train_probes
    from monorobust.sae.train import train_sae
    from monorobust.train import pretrain
    from monorobust.train.precision import resolve_precision

    cfg = load_config(preset)
    kind = torch.device(device).type
    pre = replace(cfg.pretrain, width=4, proj_hidden=32, proj_dim=16, batch_size=16, epochs=1,
                  warmup_epochs=0, compile=False)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (512, 1, 28, 28), dtype=torch.uint8, generator=gen)
    features = torch.randn(4096, 64, generator=gen)
    labels = torch.randint(0, 10, (4, 1024), generator=gen)
    calls = itertools.count()

    def pretrain_loop(steps: int) -> None:
        fabric = Fabric(accelerator=kind, devices=1,
                        precision=resolve_precision(pre.precision, kind).precision)
        pretrain(images[:steps * pre.batch_size], pre, "ncl", 0,
                 folder / f"pretrain-{next(calls)}", fabric, progress=False)

    def sae_loop(steps: int) -> None:
        train_sae(features, replace(cfg.sae, width=128, k=8, aux_k=16, batch_size=64,
                                    steps=steps), 0, device=device)

    def probe_loop(steps: int) -> None:
        x = features[:1024].to(device)
        train_probes(x, labels.to(device), x[:256], labels[:, :256].to(device), 10,
                     replace(cfg.probe, steps=steps, batch_size=64, select="last"), 0)

    return {"pretrain": pretrain_loop, "sae": sae_loop, "probes": probe_loop}


def seconds_per_small_op(device: str, ops: int = 2000) -> float:
    """Host time of one tiny in-place operator on ``device``, back to back: the floor of an
    eager step of N operators is about N times this, whatever the device's speed."""
    x = torch.zeros(1, device=device)
    for _ in range(100):
        x.add_(1)
    sync(device)
    started = time.perf_counter()
    for _ in range(ops):
        x.add_(1)
    sync(device)
    return (time.perf_counter() - started) / ops


def time_steps(step: Callable[[], object], steps: int, warmup: int, device: str) -> float:
    """Seconds per call of ``step`` after ``warmup`` untimed calls (compilation, caches)."""
    for _ in range(warmup):
        step()
    sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return (time.perf_counter() - started) / steps


class PretrainStep(NamedTuple):
    """One optimiser step of ``train.pretrain``'s loop on a fixed batch, and its parts."""

    forward: Callable[[], torch.Tensor]
    """Augmentation on the device, two views through the Fabric-wrapped model, NT-Xent in fp32:
    the loss."""
    backward: Callable[[torch.Tensor], None]
    """Zero the gradients, then Fabric's backward of a loss."""
    update: Callable[[], None]
    """The optimiser's step."""
    flop_step: Callable[[], None]
    """The same forward and backward on the unwrapped model, without the optimiser (for
    counting FLOPs)."""
    batch: torch.Tensor
    """The float images (N, C, H, W) in [0, 1] on the device."""
    gen: torch.Generator
    """The augmentations' generator."""
    precision: str
    """Fabric's precision (``auto`` resolved)."""
    optimizer: torch.optim.Optimizer
    """The optimiser itself (inside Fabric's wrapper), e.g. to swap its update for a variant."""

    def step(self) -> None:
        self.backward(self.forward())
        self.update()


def pretrain_step(cfg: PretrainConfig, image_shape: tuple[int, int, int], device: str,
                  fabric=None, seed: int = 0) -> PretrainStep:
    """``train.pretrain``'s step (the same calls) on random uint8 images, ready to time."""
    from lightning_fabric import Fabric

    from monorobust.train.precision import resolve_precision

    gen_cpu = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (cfg.batch_size, *image_shape), dtype=torch.uint8,
                           generator=gen_cpu).to(device)
    c = image_shape[0]
    model = build_model(cfg, image_shape, [0.5] * c, [0.25] * c, seed)
    model = model.to(device, memory_format=torch.channels_last if cfg.channels_last
                     else torch.preserve_format)
    kind = torch.device(device).type
    precision = resolve_precision(cfg.precision, kind).precision
    fabric = fabric or Fabric(accelerator=kind, devices=1, precision=precision)
    optimizer = build_optimizer(model, cfg)
    cmodel = compiled(model, cfg, kind)
    apply_view = view_function(cfg, model, cmodel)
    fmodel, foptimizer = fabric.setup(cmodel, optimizer)
    gen = augment_generator(seed, 0, 0, torch.device(device))

    # The loop's convolutions run with cfg.cudnn_benchmark's autotuner, and so do these.
    def forward() -> torch.Tensor:
        with cudnn_autotuner(cfg.cudnn_benchmark):
            return contrastive_loss(fmodel, images.float().div_(255), cfg, "cl", gen,
                                    apply_view=apply_view)

    def backward(loss: torch.Tensor) -> None:
        foptimizer.zero_grad(set_to_none=True)
        with cudnn_autotuner(cfg.cudnn_benchmark):
            fabric.backward(loss)

    def flop_step() -> None:
        contrastive_loss(model, images.float().div_(255), cfg, "cl", gen).backward()
        model.zero_grad(set_to_none=True)

    return PretrainStep(forward, backward, foptimizer.step, flop_step, images.float().div_(255),
                        gen, precision, optimizer)


def measure_pretrain(cfg: PretrainConfig, image_shape: tuple[int, int, int], device: str,
                     steps: int, warmup: int) -> Speed:
    """Steady-state images/s and counted GFLOP/s of ``cfg``'s pretraining step on ``device``."""
    parts = pretrain_step(cfg, image_shape, device)
    flops = count_flops(parts.flop_step)
    seconds = time_steps(parts.step, steps, warmup, device)
    ops = None if cfg.compile else count_ops(parts.step)
    return Speed(cfg.batch_size / seconds, flops / seconds / 1e9, flops, ops,
                 count_host_syncs(parts.step))


def error_text(err: BaseException) -> str:
    """What a failed measurement records: the error (its first 2,000 characters) and its
    traceback's tail."""
    import traceback

    return (f"{type(err).__name__}: {err}"[:2000] + "\n"
            + traceback.format_exc(limit=3)[-1500:])


def free_device(device: str) -> None:
    """Drop compiled graphs (they hold memory and guards) and the device's cached blocks."""
    torch._dynamo.reset()
    if device == "cuda":
        torch.cuda.empty_cache()


def share(gflops: float, peak: float | None) -> float | None:
    """``gflops`` as a fraction of ``peak`` (None where no peak was measured)."""
    return round(gflops / peak, 4) if peak else None
