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
   then an epoch of cl and one of ncl one after the other against side by side in two worker
   processes (``pretrain.processes``), the workers already started;
5. with ``--end-to-end``: the whole ``monorobust run --preset quick`` (3 seeds, report included)
   in fp32 and with ``precision: auto`` (bf16 where the CPU has it), one after the other:
   wall time, time per phase, each cell of the accuracy table side by side (cells whose
   difference exceeds the larger of the two seed spreads marked) and the report's five
   verdicts of each. About 15 minutes on 2 cores. ``--only-end-to-end`` skips 1-4;
   ``--seeds 3 4 5`` repeats the comparison on other seeds; ``--precisions fp32 auto
   auto-one-at-a-time`` adds a control, auto again with its rounding changed (pretrainings one
   at a time on both threads) and compared with auto, to show what rounding alone moves.

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

    from lightning_fabric import Fabric

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


def end_to_end(out: Path, seeds: list[int], precisions: list[str]) -> None:
    """``monorobust run --preset quick`` once per named setting (``END_TO_END``), each a whole
    command as a user runs it (every seed, the report included), one after the other on the
    same machine; then the time of each, its phases, and, for each run after the first against
    the one before it, every accuracy cell side by side and the report's verdicts."""
    import json

    seconds, phases = {}, {}
    for name in precisions:
        started = time.perf_counter()
        settings = [arg for key, value in END_TO_END[name].items()
                    for arg in ("--set", f"{key}={value}")]
        subprocess.run([sys.executable, "-m", "monorobust", "run", "--preset", "quick",
                        "--out", str(out / name), "--seeds", *map(str, seeds), *settings,
                        "--quiet"], check=True, stdout=subprocess.DEVNULL)
        seconds[name] = time.perf_counter() - started
        info = json.loads((out / name / "run.json").read_text())
        phases[name] = info.get("phase_seconds", {})
        rates = info.get("pretrain_images_per_second", {})
        print(f"quick preset, seeds {seeds}, {name} (resolved: {info.get('precision')}, "
              f"{info.get('pretrain_processes', 1)} pretraining(s) at once): "
              f"{seconds[name]:.0f} s wall, report included; phases {phases[name]}; pretraining "
              f"{min(rates.values()):,.0f}-{max(rates.values()):,.0f} images/s", flush=True)
    for a, b in zip(precisions, precisions[1:]):
        print(f"\n{b} against {a}: time {b} / {a}: {seconds[b] / seconds[a]:.2f}")
        compare_tables(out / a / "summary.csv", out / b / "summary.csv", a, b)
        compare_verdicts(out / a, out / b, a, b)


END_TO_END = {
    "fp32": {"pretrain.precision": "32-true"},
    "auto": {"pretrain.precision": "auto"},
    "bf16": {"pretrain.precision": "bf16-mixed"},
    # A control: auto with pretrainings one at a time on every thread, which changes the float
    # rounding and nothing else. Run after "auto", it shows how far rounding alone moves the
    # cells and verdicts that "auto" against "fp32" moves.
    "auto-one-at-a-time": {"pretrain.precision": "auto", "pretrain.processes": 1},
}
"""``--end-to-end`` runs: name -> the ``--set`` settings of its ``monorobust run``."""


def compare_tables(first: Path, second: Path, a: str, b: str) -> None:
    """Each accuracy cell of two summary.csv side by side; cells apart by more than the larger
    seed spread are marked."""
    import pandas as pd

    x, y = pd.read_csv(first), pd.read_csv(second)
    both = x.merge(y, on=["representation", "scenario", "severity"], suffixes=(f"_{a}", f"_{b}"))
    both["diff"] = both[f"mean_{b}"] - both[f"mean_{a}"]
    spread = both[[f"std_{a}", f"std_{b}"]].max(axis=1)         # NaN with a single seed
    both["outside"] = (both["diff"].abs() > spread).where(spread.notna())
    pd.set_option("display.width", 160)
    print(both[["representation", "scenario", "severity", f"mean_{a}", f"std_{a}", f"mean_{b}",
                f"std_{b}", "diff", "outside"]].round(4).to_string(index=False))
    print(f"cells whose {b} - {a} difference exceeds the larger seed std: "
          f"{int(both.outside.eq(True).sum())} of {int(spread.notna().sum())} with a spread; "
          f"mean |diff| {both['diff'].abs().mean():.4f}, mean {b} - {a} {both['diff'].mean():+.4f}")


def compare_verdicts(first: Path, second: Path, a: str, b: str) -> None:
    """The report's verdict per claim for both run folders, whether they agree, and the change
    of each claim's contrast (mono - poly) from ``a`` to ``b``, paired by seed, with its 95% CI:
    the question the verdicts stand in for, asked directly."""
    import pandas as pd
    from scipy import stats

    from monorobust.report.load import load_run
    from monorobust.report.sections import make_context
    from monorobust.report.verdicts import CLAIMS, claim_verdicts, verdicts_table

    tables, contrasts = [], []
    for folder in (first, second):
        data = load_run(folder)
        flags = make_context(data).mono
        tables.append(verdicts_table(claim_verdicts(data.results, flags)))
        contrasts.append(_per_seed_contrasts(data.results, flags))
    ci = [c for c in tables[0].columns if c.endswith("CI (pts)")][0]
    side = pd.DataFrame({"claim": tables[0]["claim"],
                         a: tables[0]["verdict"], f"{a} mono - poly": tables[0]["mono - poly (pts)"],
                         f"{a} CI": tables[0][ci],
                         b: tables[1]["verdict"], f"{b} mono - poly": tables[1]["mono - poly (pts)"],
                         f"{b} CI": tables[1][ci]})
    side["same"] = side[a] == side[b]
    change = []
    for key in CLAIMS:
        x, y = contrasts[0].get(key), contrasts[1].get(key)
        seeds = sorted(set(x.index) & set(y.index)) if x is not None and y is not None else []
        if len(seeds) < 2:
            change.append("-")
            continue
        d = 100 * (y[seeds] - x[seeds])
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / len(d) ** 0.5
        change.append(f"{d.mean():+.1f} [{d.mean() - half:+.1f}, {d.mean() + half:+.1f}]")
    side[f"{b} - {a} (pts, 95% CI)"] = change
    pd.set_option("display.width", 200)
    print(side.to_string(index=False))
    print(f"verdicts: {int(side.same.sum())} of {len(side)} the same")


def _per_seed_contrasts(results, flags: dict) -> dict:
    """claim -> per-seed mono - poly (a Series indexed by seed) at the claim's primary points,
    from the report's own per-seed sides (``verdicts.seed_sides``)."""
    from monorobust.report.verdicts import primary_points, seed_sides

    mono = [r for r, m in flags.items() if m is True]
    poly = [r for r, m in flags.items() if m is False]
    out = {}
    for key, points in primary_points(results, mono + poly).items():
        a, b = seed_sides(results, mono, poly, points) if points else ((), ())
        if len(a) and len(b):
            out[key] = (a - b).dropna()
    return out

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    p.add_argument("--matmul-size", type=int, default=4096)
    p.add_argument("--no-epochs", action="store_true", help="skip the full-epoch measurement")
    p.add_argument("--end-to-end", action="store_true",
                   help="also run the whole quick preset once per --precisions")
    p.add_argument("--only-end-to-end", action="store_true", help="skip the step measurements")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--precisions", nargs="+", default=["fp32", "auto"], choices=list(END_TO_END),
                   help="--end-to-end's runs, in this order; each is compared with the one before "
                        "(add auto-one-at-a-time for a rounding-only control)")
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
            end_to_end(args.out, args.seeds, args.precisions)
        else:
            with tempfile.TemporaryDirectory() as out:
                end_to_end(Path(out), args.seeds, args.precisions)


def side_by_side(cfg, device: str) -> None:
    """One epoch of cl and of ncl (the quick preset's precision), one after the other on every
    thread of this process (``pretrain.processes: 1``), then side by side in worker processes on
    half the threads each (2, the quick preset's): images/s of both pretrainings together."""
    from dataclasses import replace

    from lightning_fabric import Fabric

    from monorobust.data.prepare import prepare_splits
    from monorobust.train import pretrain
    from monorobust.train.parallel import PretrainJob, pretrain_side_by_side, threads_each
    from monorobust.train.precision import resolve_precision

    if torch.device(device).type != "cpu":
        return
    images = prepare_splits(cfg.data).train.images
    pcfg = replace(cfg.pretrain, epochs=1)
    precision = resolve_precision(pcfg.precision, device).precision
    rates, trained = {}, 2 * (len(images) // pcfg.batch_size * pcfg.batch_size)   # images, 2 epochs
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        for objective in ("cl", "ncl"):
            fabric = Fabric(accelerator="cpu", devices=1, precision=precision)
            pretrain(images, replace(pcfg, processes=1), objective, 0, Path(out) / objective,
                     fabric, progress=False)
        rates[1] = trained / (time.perf_counter() - started)
        pcfg2 = replace(pcfg, processes=2)
        jobs = [PretrainJob(o, 0, Path(out) / f"{o}-2") for o in ("cl", "ncl")]
        pretrain_side_by_side(images, pcfg2, jobs, progress=False)       # workers started
        jobs = [PretrainJob(o, 1, Path(out) / f"{o}-3") for o in ("cl", "ncl")]
        started = time.perf_counter()
        pretrain_side_by_side(images, pcfg2, jobs, progress=False)
        rates[2] = trained / (time.perf_counter() - started)
    print(f"cl + ncl epochs ({precision}), one at a time on {torch.get_num_threads()} threads: "
          f"{rates[1]:,.0f} images/s; side by side on {threads_each(pcfg2)} each "
          f"(pretrain.processes 2): {rates[2]:,.0f} images/s ({rates[2] / rates[1]:.2f}x)")


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
        side_by_side(cfg, args.device)


if __name__ == "__main__":
    main()
