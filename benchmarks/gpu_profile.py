"""Where a paper-scale pretraining step's time goes on a GPU, and what larger batches give.

    python3 benchmarks/gpu_profile.py --out DIR               # on a GPU machine (docs/scale.md)
    python3 benchmarks/gpu_profile.py --device cpu --tiny --out DIR   # the same code, tiny

Writes ``DIR/gpu_profile.json`` (and ``DIR/kernels.txt``, torch.profiler's table):

- ``parts_ms``: the cifar100 preset's step (``roofline.pretrain_step``) taken apart: the two
  views' augmentation alone, eager and with its transforms compiled (``compiled_apply_view``
  in the default mode), the forward (augmentation, model, NT-Xent), forward and backward,
  the whole step with the optimiser, and the optimiser's step alone, eager and (LARS, through
  ``pretrain.compile_optimizer``) compiled; each the mean of timed calls after warm-up.
- ``kernels``: torch.profiler over a few steps: the device's busy time per step against the
  wall time per step (a large gap: the host or a wait starves the device), and the busy time
  by kind of kernel (convolution, BatchNorm, matrix product, elementwise, optimiser, ...).
- ``batch_sweep``: views/s of the eager channels-last step at larger batches per process
  (the method allows them: more negatives per step).
- ``host_sync_sites``: the Python lines that made the host wait, over a few steps.
- ``compile_modes``: views/s eager, under ``torch.compile``, under its CUDA graphs
  (``pretrain.compile_mode: reduce-overhead``), and under CUDA graphs with each speed option
  that no preset turns on until this measures it (``gpu_check_summary.SPEED_OPTIONS``: LARS's
  update compiled, the augmentation's transforms compiled, cuDNN's autotuner), then with the
  options that paid alone together; with the device's busy share under CUDA graphs (its
  kernels in ``DIR/graphs.txt``). Each variant's figures, with the ``--set`` items of its step,
  are written as soon as it has run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu_check import resnet18_config  # noqa: E402
from gpu_check_summary import (COMBINED, GRAPHS, SPEED_OPTIONS, options_that_paid,  # noqa: E402
                               set_items, variant_name)
from roofline import (error_text, free_device, host_sync_sites, pretrain_step, sync,  # noqa: E402
                      time_steps)

# Kernel names by kind, first match wins (cuDNN, CUTLASS and PyTorch's own kernel names).
KINDS = [("batchnorm", r"batch_norm|bn_|batchnorm|welford"),
         ("convolution", r"conv|dgrad|wgrad|fprop|implicit|xmma|cudnn|sm\d+_.*nhwc"),
         ("matmul", r"gemm|cutlass|nvjet|cublas|matmul"),
         ("optimizer", r"multi_tensor|foreach|lars"),
         ("reduction", r"reduce|norm|softmax|sum|mean"),
         ("elementwise", r"elementwise|vectorized|unrolled|copy|fill|index|scatter|gather")]


def kind_of(name: str) -> str:
    low = name.lower()
    return next((kind for kind, pattern in KINDS if re.search(pattern, low)), "other")


def parts_ms(cfg, shape, device: str, steps: int, warmup: int) -> dict:
    """The step taken apart; each part timed on its own, so the differences are estimates."""
    from monorobust.train.augment import compiled_apply_view, simclr_views

    parts = pretrain_step(cfg, shape, device)
    x, fused = parts.batch, compiled_apply_view("default")
    out = {"augmentation": time_steps(lambda: simclr_views(x, cfg.augment, parts.gen),
                                      steps, warmup, device),
           # its transforms in fused kernels (pretrain.compile_augment), launched eagerly
           "augmentation_compiled": time_steps(
               lambda: simclr_views(x, cfg.augment, parts.gen, apply_view=fused), steps,
               warmup + 2, device),
           "forward": time_steps(parts.forward, steps, warmup, device),
           "forward_backward": time_steps(lambda: parts.backward(parts.forward()), steps,
                                          warmup, device),
           "step": time_steps(parts.step, steps, warmup, device)}
    # The optimiser's step alone, on the last step's gradients: eager, then (LARS) compiled.
    out["optimizer"] = time_steps(parts.optimizer.step, steps, warmup, device)
    if cfg.optimizer == "lars":
        parts.optimizer.compile_update()
        out["optimizer_compiled"] = time_steps(parts.optimizer.step, steps, warmup, device)
    return {k: round(1e3 * v, 3) for k, v in out.items()}


def kernels(cfg, shape, device: str, steps: int, warmup: int, out_dir: Path,
            name: str = "kernels") -> dict:
    from torch.profiler import ProfilerActivity, profile

    parts = pretrain_step(cfg, shape, device)
    for _ in range(warmup):
        parts.step()
    sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    started = time.perf_counter()
    with profile(activities=activities) as prof:
        for _ in range(steps):
            parts.step()
        sync(device)
    wall = (time.perf_counter() - started) / steps
    events = prof.key_averages()
    attr = "self_device_time_total" if device == "cuda" else "self_cpu_time_total"
    by_kind: dict[str, float] = defaultdict(float)
    top = []
    busy = 0.0
    for ev in events:
        us = float(getattr(ev, attr, 0.0) or 0.0)
        if us <= 0 or (device == "cuda" and ev.device_type != torch.autograd.DeviceType.CUDA):
            continue
        if getattr(ev, "is_user_annotation", False) or ev.key.startswith("Optimizer."):
            continue                              # a range on the device's timeline, no kernel
        busy += us
        by_kind[kind_of(ev.key)] += us
        top.append((us, ev.count, ev.key))
    top.sort(reverse=True)
    table = events.table(sort_by=attr, row_limit=40, max_name_column_width=90)
    (out_dir / f"{name}.txt").write_text(table)
    return {"wall_ms_per_step": round(1e3 * wall, 3),
            "busy_ms_per_step": round(busy / 1e3 / steps, 3),
            "busy_share_of_wall": round(busy / 1e6 / steps / wall, 3),
            "by_kind_ms_per_step": {k: round(v / 1e3 / steps, 3)
                                    for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])},
            "top_kernels": [{"ms_per_step": round(us / 1e3 / steps, 3),
                             "calls_per_step": round(n / steps, 2), "name": name[:160]}
                            for us, n, name in top[:25]]}


PARTS = ("parts_ms", "kernels", "host_sync_sites", "batch_sweep", "compile_modes")
COMPILE_MODES = {"eager": {}, "default": {"compile": True, "compile_mode": "default"},
                 "reduce-overhead": GRAPHS,
                 # the speed options off in the presets until measured, one at a time
                 **{variant_name(name): {**GRAPHS, key: True}
                    for name, key in SPEED_OPTIONS.items()}}
"""``compile_modes``' variants by name: changes to the preset's pretraining section. One more,
``COMBINED``, is made from what the others measured."""
SPEED_VARIANTS = ["reduce-overhead", *map(variant_name, SPEED_OPTIONS), COMBINED]
"""``--speed``: the CUDA-graph step plain, with each speed option, and with those that paid."""


def compile_modes(cfg, shape, device: str, steps: int, warmup: int, out_dir: Path,
                  names: list[str] | None = None,
                  record: Callable[[dict], object] = lambda so_far: None,
                  usable: list[str] | None = None) -> dict:
    """Views/s of the step eager and under each ``pretrain.compile_mode`` worth trying, each
    speed option alone under CUDA graphs, then ``COMBINED``: every option that paid alone
    (``options_that_paid``) and is ``usable`` (default: all; gpu_next.sh passes those whose GPU
    tests passed), together, where two or more are; and the device's busy share of the step
    under CUDA graphs. Or only the variants ``names``. Each variant records the ``--set``
    items of its step (``set``) and its speed options (``options``); ``record`` gets the
    figures so far after each (a run cut short keeps them)."""
    out = {}
    variants = {name: change for name, change in COMPILE_MODES.items()
                if (names is None or name in names)
                and (cfg.optimizer == "lars" or not change.get("compile_optimizer"))}
    if names is None or COMBINED in names:
        variants[COMBINED] = None                 # decided once the others have run
    for name, change in variants.items():
        if change is None:
            paid = [key for key in options_that_paid(out) if usable is None or key in usable]
            if len(paid) < 2:
                out[name] = {"skipped": f"{len(paid)} option(s) paid alone (and passed their "
                                        f"tests): {', '.join(paid) or 'none'}"}
                record(out)
                continue
            change = {**GRAPHS, **dict.fromkeys(paid, True)}
        out[name] = {**step_speed(replace(cfg, **change), shape, device, steps,
                                  warmup + (5 if change else 0)),
                     "set": set_items(change),
                     "options": [key for key in change if key not in GRAPHS]}
        record(out)
    if names is not None:                         # a chosen few: no profile after them
        return out
    try:
        graphs = replace(cfg, **GRAPHS)
        busy = kernels(graphs, shape, device, min(steps, 5), warmup + 5, out_dir, "graphs")
        out["reduce-overhead"]["busy_share_of_wall"] = busy["busy_share_of_wall"]
        out["reduce-overhead"]["busy_ms_per_step"] = busy["busy_ms_per_step"]
    except Exception as err:
        out["busy_error"] = error_text(err)
    return out


def batch_sweep(cfg, shape, device: str, batches: list[int], steps: int, warmup: int) -> dict:
    return {str(b): step_speed(replace(cfg, batch_size=b), shape, device, steps, warmup)
            for b in batches}


def step_speed(cfg, shape, device: str, steps: int, warmup: int) -> dict:
    """Views/s and ms of ``cfg``'s step (with the seconds its compiling took too), or the
    error that stopped it (out of memory, say: the caller's other variants still run)."""
    started, parts = time.perf_counter(), None
    try:
        parts = pretrain_step(cfg, shape, device)
        seconds = time_steps(parts.step, steps, warmup, device)
        return {"views_per_second": round(2 * cfg.batch_size / seconds, 1),
                "step_ms": round(1e3 * seconds, 3),
                "seconds_with_compilation": round(time.perf_counter() - started, 1)}
    except Exception as err:
        return {"error": error_text(err)}
    finally:
        del parts
        free_device(device)


def sync_sites(cfg, shape, device: str, steps: int) -> dict | None:
    parts = pretrain_step(cfg, shape, device)
    for _ in range(3):
        parts.step()
    sync(device)
    sites = host_sync_sites(lambda: [parts.step() for _ in range(steps)])
    return None if sites is None else {k: v / steps for k, v in sites.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--preset", default="cifar100")
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "gpu-profile"))
    p.add_argument("--parts", nargs="+", default=None, choices=PARTS, metavar="PART",
                   help=f"only these parts ({' '.join(PARTS)}); all by default")
    p.add_argument("--variants", nargs="+", default=None, metavar="NAME",
                   help="compile_modes' variants, by name (default all: "
                        + ", ".join(repr(n) for n in [*COMPILE_MODES, COMBINED]) + ")")
    p.add_argument("--speed", action="store_true",
                   help="compile_modes' variants: " + ", ".join(map(repr, SPEED_VARIANTS)))
    p.add_argument("--usable", nargs="*", default=None, metavar="KEY",
                   help="the speed options the combined variant may use (default: all)")
    args = p.parse_args()
    if args.speed:
        args.variants = SPEED_VARIANTS
    known = [*COMPILE_MODES, COMBINED]
    unknown = sorted(set(args.variants or ()) - set(known))
    if unknown:
        p.error(f"unknown --variants {', '.join(map(repr, unknown))}; the variants are "
                + ", ".join(map(repr, known)))
    args.out.mkdir(parents=True, exist_ok=True)

    cfg = resnet18_config(args.tiny, args.preset)                   # eager unless said
    shape, steps, warmup, batches = (3, 32, 32), 20, 5, [256, 512, 1024, 2048]
    if args.tiny:
        shape, steps, warmup, batches = (3, 16, 16), 2, 1, [8, 16]
    report: dict = {"device": torch.cuda.get_device_name() if args.device == "cuda" else
                    args.device, "torch": torch.__version__, "preset": args.preset,
                    "batch_size": cfg.batch_size, "precision": cfg.precision}
    path = args.out / "gpu_profile.json"

    def record(name: str, figures: dict) -> None:
        report[name] = figures
        path.write_text(json.dumps(report, indent=2))

    for name, fn in {"parts_ms": lambda: parts_ms(cfg, shape, args.device, steps, warmup),
                     "kernels": lambda: kernels(cfg, shape, args.device, min(steps, 5), warmup,
                                                args.out),
                     "host_sync_sites": lambda: sync_sites(cfg, shape, args.device, 5),
                     "batch_sweep": lambda: batch_sweep(cfg, shape, args.device, batches,
                                                        steps, warmup),
                     "compile_modes": lambda: {"skipped": "tiny: compiling takes minutes on a "
                                                          "CPU"}
                     if args.tiny and not args.variants else
                     compile_modes(cfg, shape, args.device, steps, warmup, args.out,
                                   args.variants,
                                   lambda so_far: record("compile_modes", so_far),
                                   args.usable)}.items():
        if args.parts and name not in args.parts:
            continue
        started = time.perf_counter()
        try:
            record(name, fn())
        except Exception as err:                  # recorded; the next parts still run
            record(name, {"error": error_text(err)})
        print(f"gpu_profile: {name} ({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"gpu_profile: wrote {path}")


if __name__ == "__main__":
    main()
