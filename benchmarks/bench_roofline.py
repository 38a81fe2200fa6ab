"""Roofline of the quick preset on this machine: how close each phase gets to the matmul peak.

    python benchmarks/bench_roofline.py                  # a few minutes: steps, one epoch each
    python benchmarks/bench_roofline.py --end-to-end     # + the quick preset twice (fp32, bf16)

Measures, in one process on one device (the CPU unless ``--device``):

1. the peak: GFLOP/s of a large ``torch.matmul`` in fp32 and in bf16;
2. quick-preset pretraining (MLP 784-512-512, projector 1024-256, batch 512, two views) in
   fp32 and under bf16 autocast: images/s of the steady-state step, counted GFLOP/s
   (``FlopCounterMode``: matrix products forward and backward) and that as a share of each peak;
3. the SAE of ``cl+sae`` (TopK, the quick preset's width and k) and one probe of the grid
   (the quick preset's steps and batch, on features of the projector's width) likewise, the
   probe in fp32 and under bf16 autocast (it gains nothing: its products are tiny);
4. one full pretraining epoch through ``train.pretrain`` (Fashion-MNIST's 54,000 training
   images, checkpoint included) in each precision: the real loop's images/s and their ratio;
5. with ``--end-to-end``: ``monorobust run --preset quick`` in fp32 and with ``precision: auto``
   (bf16 where the CPU has it), one after the other: wall time, time per phase, and each cell
   of the accuracy table side by side, with the cells whose difference exceeds the larger of
   the two seed spreads marked. Takes about twice the quick preset's time.

Numbers depend on what else the machine runs; time on a quiet one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from roofline import count_flops, matmul_peak_gflops, measure_pretrain, share, time_steps

PRECISIONS = {"fp32": "32-true", "bf16": "bf16-mixed"}


def print_row(name: str, unit: str, rate: float, gflops: float, peaks: dict[str, float]) -> None:
    shares = "  ".join(f"{share(gflops, peak):6.1%} of {k}" for k, peak in peaks.items())
    print(f"{name:<28} {rate:>11,.0f} {unit:<10} {gflops:8.1f} GFLOP/s  {shares}")


def pretraining(cfg, device: str, steps: int, peaks: dict[str, float]) -> dict[str, float]:
    """Steady-state quick-preset pretraining steps in fp32 and bf16; images/s of each."""
    from dataclasses import replace

    rates = {}
    for name, precision in PRECISIONS.items():
        speed = measure_pretrain(replace(cfg.pretrain, precision=precision), (1, 28, 28), device,
                                 steps=steps, warmup=3)
        print_row(f"pretrain step, {name}", "images/s", speed.items_per_second,
                  speed.gflops_per_second, peaks)
        rates[name] = speed.items_per_second
    print(f"{'':<28} bf16 / fp32 images/s: {rates['bf16'] / rates['fp32']:.2f}x")
    return rates


def sae(cfg, device: str, steps: int, peaks: dict[str, float]) -> None:
    """The SAE's training step at the quick preset's shape (fp32: its fused kernel is fp32)."""
    import torch.nn.functional as F

    from monorobust.sae.model import TopKSAE
    from monorobust.sae.train import make_optimizer, sae_step

    d = cfg.pretrain.proj_dim
    width, k = cfg.sae.resolve(d)
    x = F.normalize(torch.randn(cfg.sae.batch_size, d, device=device), dim=1)
    model = TopKSAE(d, width, k, generator=torch.Generator().manual_seed(0)).to(device)
    opt = make_optimizer(model, cfg.sae)
    since = torch.zeros(width, dtype=torch.long, device=device)
    step = lambda: sae_step(model, opt, x, since, 10 ** 6, cfg.sae)   # noqa: E731 (past warmup)
    flops = count_flops(step)
    seconds = time_steps(step, steps, 3, device)
    print_row(f"SAE {d}->{width} k {k}, fp32", "samples/s", len(x) / seconds,
              flops / seconds / 1e9, peaks)


def probe(cfg, device: str, peaks: dict[str, float]) -> None:
    """One probe of the grid (quick preset's steps, batch and validation checks), fp32 and bf16."""
    from monorobust.evaluate import train_probe

    gen = torch.Generator().manual_seed(0)
    d, n = cfg.pretrain.proj_dim, 54000
    x, y = torch.randn(n, d, generator=gen).to(device), torch.randint(0, 10, (n,), generator=gen)
    vx, vy = x[:6000], y[:6000].to(device)
    y = y.to(device)
    fit = lambda: train_probe(x, y, vx, vy, 10, cfg.probe, 0)         # noqa: E731
    flops = count_flops(fit)
    for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        with torch.autocast(torch.device(device).type, dtype=dtype or torch.float32,
                            enabled=dtype is not None):
            seconds = time_steps(fit, 2, 1, device)
        print_row(f"probe ({cfg.probe.steps} steps), {name}", "rows/s",
                  cfg.probe.steps * cfg.probe.batch_size / seconds, flops / seconds / 1e9, peaks)
        print(f"{'':<28} {seconds:.2f} s per probe")


def epochs(cfg, device: str) -> None:
    """One pretraining epoch through ``train.pretrain`` per precision (the loop users run)."""
    from dataclasses import replace

    from lightning.fabric import Fabric

    from monorobust.data.prepare import prepare_splits
    from monorobust.train import pretrain

    images = prepare_splits(cfg.data).train.images
    rates = {}
    for name, precision in PRECISIONS.items():
        pcfg = replace(cfg.pretrain, precision=precision, epochs=1)
        fabric = Fabric(accelerator=torch.device(device).type, devices=1, precision=precision)
        with tempfile.TemporaryDirectory() as out:
            result = pretrain(images, pcfg, "cl", 0, out, fabric, progress=False)
        rates[name] = result.images_per_second
        print(f"pretrain epoch, {name:<14} {rates[name]:>11,.0f} images/s  {result.seconds:6.1f} s"
              f"  loss {result.losses[-1]:.4f}")
    print(f"{'':<28} bf16 / fp32 images/s: {rates['bf16'] / rates['fp32']:.2f}x")


def end_to_end(out: Path, seeds: list[int]) -> None:
    """``monorobust run --preset quick`` in fp32 and with precision auto, seed by seed in turn
    (both see the same machine load, and a cut-short comparison still pairs its seeds); each
    folder collects its seeds, as reruns with more seeds do. Then the tables side by side."""
    import json

    runs = {"fp32": "32-true", "auto": "auto"}
    seconds = dict.fromkeys(runs, 0.0)
    phases: dict[str, dict[str, float]] = {name: {} for name in runs}
    for seed in seeds:
        for name, precision in runs.items():
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "monorobust", "run", "--preset", "quick",
                            "--out", str(out / name), "--seeds", str(seed), "--set",
                            f"pretrain.precision={precision}", "--quiet"],
                           check=True, stdout=subprocess.DEVNULL)
            seconds[name] += time.perf_counter() - started
            info = json.loads((out / name / "run.json").read_text())
            for phase, secs in info.get("phase_seconds", {}).items():
                phases[name][phase] = round(phases[name].get(phase, 0.0) + secs, 1)
            print(f"quick preset seed {seed}, {name} ({info.get('precision')}): "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
    for name in runs:
        print(f"quick preset, {name}: {seconds[name]:.0f} s over seeds {seeds}; phases {phases[name]}")
    print(f"time auto / fp32: {seconds['auto'] / seconds['fp32']:.2f}")
    compare_tables(out / "fp32" / "summary.csv", out / "auto" / "summary.csv")


def compare_tables(fp32: Path, bf16: Path) -> None:
    """Each accuracy cell of two summary.csv side by side; cells apart by more than the larger
    seed spread are marked."""
    import pandas as pd

    a, b = pd.read_csv(fp32), pd.read_csv(bf16)
    both = a.merge(b, on=["representation", "scenario", "severity"], suffixes=("_fp32", "_bf16"))
    both["diff"] = both.mean_bf16 - both.mean_fp32
    spread = both[["std_fp32", "std_bf16"]].max(axis=1)         # NaN with a single seed
    both["outside"] = (both["diff"].abs() > spread).where(spread.notna())
    pd.set_option("display.width", 160)
    print(both[["representation", "scenario", "severity", "mean_fp32", "std_fp32", "mean_bf16",
                "std_bf16", "diff", "outside"]].round(4).to_string(index=False))
    print(f"cells whose bf16 - fp32 difference exceeds the larger seed std: "
          f"{int(both.outside.eq(True).sum())} of {int(spread.notna().sum())} with a spread; "
          f"mean |diff| {both['diff'].abs().mean():.4f}, mean bf16 - fp32 {both['diff'].mean():+.4f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    p.add_argument("--matmul-size", type=int, default=4096)
    p.add_argument("--no-epochs", action="store_true", help="skip the full-epoch measurement")
    p.add_argument("--end-to-end", action="store_true", help="run the quick preset twice")
    p.add_argument("--only-end-to-end", action="store_true", help="skip the step measurements")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", type=Path, help="folder for --end-to-end's runs (default: a temp dir)")
    args = p.parse_args()

    from monorobust.config import load_config
    from monorobust.train.precision import cpu_bf16_flags

    cfg = load_config("quick", {"device": args.device})
    print(f"torch {torch.__version__}, {args.device}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} cores, native bf16 flags: {cpu_bf16_flags() or 'none'}; "
          f"load average {os.getloadavg()[0]:.1f}")
    if not args.only_end_to_end:
        roofline(cfg, args)
    if args.end_to_end or args.only_end_to_end:
        if args.out:
            end_to_end(args.out, args.seeds)
        else:
            with tempfile.TemporaryDirectory() as out:
                end_to_end(Path(out), args.seeds)


def roofline(cfg, args) -> None:
    """Steps 1-4: the peaks, then each phase against them."""
    peaks = {name: matmul_peak_gflops(args.device, dtype, args.matmul_size)
             for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    print(f"matmul peak ({args.matmul_size}^3): fp32 {peaks['fp32']:.0f} GFLOP/s, "
          f"bf16 {peaks['bf16']:.0f} GFLOP/s")
    pretraining(cfg, args.device, args.steps, peaks)
    sae(cfg, args.device, args.steps, peaks)
    probe(cfg, args.device, peaks)
    if not args.no_epochs:
        epochs(cfg, args.device)


if __name__ == "__main__":
    main()
