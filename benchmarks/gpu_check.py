"""The prepared GPU check: every GPU path the presets use, measured, into one JSON of figures.

    bash benchmarks/gpu_check.sh                     # what to run on a GPU machine (installs first)
    python3 benchmarks/gpu_check.py --device cuda --out DIR
    python3 benchmarks/gpu_check.py --device cpu --tiny --out DIR    # the same code, tiny sizes

Steps, each recorded in ``DIR/gpu_check.json`` as soon as it ends (a failing step records its
error and the others still run; ``--budget`` seconds bound them all: a command still running
then is cut, and the steps not started are skipped):

1. ``peaks``: GFLOP/s of a large ``torch.matmul`` in fp32 and bf16 on the device.
2. ``tests`` (run after step 5, so that a hanging test costs no figures):
   ``pytest tests/test_gpu.py tests/test_scale_train.py`` (tiny: test_gpu.py only), counts and
   the names of failures; each test's line in ``DIR/tests.log`` as it ends.
3. ``resnet18``: the cifar100 preset's pretraining step (ResNet-18 with the CIFAR stem, projector
   512-16384-2048, batch 256, LARS, bf16 autocast, 32-px RGB): images/s, views/s, counted
   TFLOP/s and their share of the measured bf16 peak (and of the data sheet's, for known GPUs),
   for eager + channels-last, eager + contiguous, ``torch.compile`` + channels-last, its CUDA
   graphs (``pretrain.compile_mode: reduce-overhead``) + channels-last, and eager at four times
   the batch (a step that takes about as long is host-bound); for the eager ones also the
   operators a step dispatches and the host's floor for that many (the measured time of one
   tiny operator times their number; a convolution or BatchNorm costs the host far more).
   The two views' augmentation alone, a pass each and in one pass (``augmentation_ms``), and
   how often a step makes the host wait for the GPU (``host_syncs_per_step``).
   Then eager + channels-last with cuDNN's autotuner on (``cudnn.benchmark``; off in the
   presets), and the imagenet100 preset's step (ImageNet stem, 224 px, batch 128), eager and
   under CUDA graphs.
4. ``host_syncs``: the same waits per step of the whole pretraining, SAE and probe loops
   (tiny, the fmnist-resnet18 preset's settings; ``tests/test_gpu.py`` asserts none for
   pretraining and probes).
5. ``end_to_end``: ``monorobust run --preset fmnist-resnet18`` for one seed, a few epochs, every
   scenario at one severity: wall time, the time of each phase (pretraining, feature
   extraction, SAE, grid), pretraining images/s and the resolved precision, from run.json.
6. ``lightly``: ``bench_pretrain_lightly.py --encoder resnet18`` (the same model through
   lightly's pipeline, and the ratio of epoch times); skipped where lightly is not installed.

Steps 5 and 6 read Fashion-MNIST where ``load_dataset`` finds it: Debian's package folder, or
``$MONOROBUST_CACHE/fashion-mnist`` (gpu_check.sh points it at the carried ``.device-kit/``,
which ``benchmarks/device_kit.sh`` fills). ``preflight`` records up front which optional parts
the machine has; without corrupt-tta the end-to-end run leaves out the ``corrupt`` scenario and
says so. ``DIR`` receives at most seven files (the device tool brings back eight): the JSON,
the tests' JUnit XML and log, and the end-to-end run's run.json, summary.csv and report.md; the
run folder itself is written under ``--work``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from roofline import (error_text, free_device, matmul_peak_gflops, measure_pretrain,
                      seconds_per_small_op, share, time_steps)

ROOT = Path(__file__).resolve().parent.parent
# One severity of every scenario the presets run: every GPU path, a fraction of the probes.
SCENARIOS = {"clean": 0, "label_noise": 0.4, "gaussian_noise": 0.4, "uniform_noise": 0.4,
             "few_shot": 10, "sketch": 1, "corrupt": 3}
# 8 epochs: under CUDA graphs (the preset's) 3 epochs mostly timed the compiling (on an H200,
# about 20 s for the first encoder against about 2.4 s an epoch at the measured step rate).
FULL_E2E = ["pretrain.epochs=8", "pretrain.warmup_epochs=1", "probe.steps=300",
            "probe.eval_every=100", "sae.epochs=2"]
# Tiny, on a CPU: eager (compiling ResNet-18 there takes minutes; tests/test_scale_train.py
# trains a compiled model on the CPU, tests/test_gpu.py one under CUDA graphs).
TINY_E2E = FULL_E2E + ["pretrain.compile=false", "pretrain.epochs=1", "pretrain.width=4",
                       "pretrain.proj_hidden=32", "pretrain.proj_dim=16",
                       "pretrain.batch_size=32", "probe.steps=20",
                       "probe.batch_size=64", "probe.eval_every=10", "sae.epochs=1",
                       "data.train_size=160", "data.test_size=100", "grid.shift_test_size=20"]


def environment(device: str) -> dict:
    """What ran the check: hardware, versions, commit."""
    info = {"device": device, "torch": torch.__version__, "cuda": torch.version.cuda,
            "python": platform.python_version(), "cpu_cores": os.cpu_count(),
            "platform": platform.platform()}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
        info["gpus"] = torch.cuda.device_count()
    # COMMIT first: a copied tree's .git may name an older commit than the files it carries
    # (seen on this workplace's GPU machine).
    commit = os.environ.get("COMMIT")
    if not commit:
        try:
            commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                    text=True).stdout.strip()
        except OSError:                           # no git on the machine
            commit = None
    info["commit"] = commit or None
    return info


def preflight(args) -> dict:
    """What the machine has of the optional parts, before anything is measured."""
    packages = {}
    for name in ("torch", "lightning_fabric", "corrupt_tta", "lightly", "torchvision"):
        if importlib.util.find_spec(name) is None:
            packages[name] = None
            continue
        try:
            packages[name] = version(name.replace("_", "-"))
        except PackageNotFoundError:      # e.g. lightning_fabric inside pytorch-lightning's wheel
            packages[name] = "installed"
    # Where the project looks without downloading (a machine without internet would wait).
    from monorobust.data import fashion_mnist as fm

    data = next((str(d) for d in (fm.DEBIAN_DIR, fm.cache_dir())
                 if all((d / f).is_file() or (d / f"{f}.gz").is_file() for f in fm.FILES)), None)
    if data is None:
        print("gpu_check: no Fashion-MNIST; run benchmarks/device_kit.sh here and carry "
              ".device-kit", file=sys.stderr)
    return {"packages": packages, "fashion_mnist": data,
            "missing": [k for k, v in packages.items() if v is None] + ([] if data else
                                                                        ["fashion-mnist"])}


def peaks(args) -> dict:
    n = 512 if args.tiny else 8192
    return {"matmul_size": n,
            "fp32_gflops": round(matmul_peak_gflops(args.device, torch.float32, n), 1),
            "bf16_gflops": round(matmul_peak_gflops(args.device, torch.bfloat16, n), 1)}


def tests(args) -> dict:
    """The CUDA tests (they skip without a GPU) and the paper-scale training tests."""
    import xml.etree.ElementTree as ET

    files = ["tests/test_gpu.py"] + ([] if args.tiny else ["tests/test_scale_train.py"])
    xml, log = args.out / "tests.xml", args.out / "tests.log"
    # Each test's line goes to tests.log as it ends, so a run cut by the budget still says
    # which tests passed; pytest-timeout (where installed) stops a single hanging test first.
    cmd = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", f"--junitxml={xml}"]
    if importlib.util.find_spec("pytest_timeout") is not None:
        cmd.append(f"--timeout={max(30, int(_left(args) / 2))}")
    with log.open("w") as sink:
        try:
            done = subprocess.run(cmd + files, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
                                  text=True, timeout=_left(args))
        except subprocess.TimeoutExpired:
            done = None
    lines = log.read_text().strip().splitlines()
    if done is None or not xml.exists():          # cut by the budget, or stopped before tests
        return {"files": files, "returncode": None if done is None else done.returncode,
                "cut_by_budget": done is None,
                "passed": sum(" PASSED" in ln for ln in lines),
                "failed": [ln.split(" ")[0] for ln in lines if " FAILED" in ln or " ERROR" in ln],
                "tail": lines[-10:]}
    suite = ET.parse(xml).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    failed = [f"{case.get('classname')}::{case.get('name')}" for case in suite.iter("testcase")
              if case.find("failure") is not None or case.find("error") is not None]
    return {"files": files, "returncode": done.returncode, "tests": int(suite.get("tests")),
            "failures": int(suite.get("failures")), "errors": int(suite.get("errors")),
            "skipped": int(suite.get("skipped")), "failed": failed,
            "tail": lines[-3:]}


def resnet18_config(tiny: bool, preset: str = "cifar100"):
    """A preset's pretraining (its model, batch, optimiser, precision, layout)."""
    from monorobust.config import load_config

    cfg = replace(load_config(preset).pretrain, compile=False)     # eager unless a variant says
    if tiny:
        cfg = replace(cfg, width=4, proj_hidden=32, proj_dim=16, batch_size=8)
    return cfg


def resnet18(args, report: dict) -> dict:
    """Steady-state step speed of the cifar100 step's layouts, compilation settings and a
    four-times batch, and of the imagenet100 step (eager and under CUDA graphs)."""
    base = resnet18_config(args.tiny)
    variants = {"eager_channels_last": {}, "eager_contiguous": {"channels_last": False},
                "compiled_channels_last": {"compile": True, "compile_mode": "default"},
                "compiled_cudagraphs_channels_last": {"compile": True,
                                                      "compile_mode": "reduce-overhead"},
                # CUDA graphs and LARS's update compiled too (pretrain.compile_optimizer).
                "compiled_cudagraphs_lars_compiled_channels_last": {
                    "compile": True, "compile_mode": "reduce-overhead",
                    "compile_optimizer": True},
                # Four times the batch: a step that takes about as long is host-bound.
                "eager_channels_last_batch_x4": {"batch_size": 4 * base.batch_size}}
    steps, warmup = (2, 1) if args.tiny else (30, 5)
    shape = (3, 16, 16) if args.tiny else (3, 32, 32)
    out = {"batch_size": base.batch_size, "precision": base.precision, "image": list(shape),
           "us_per_small_op": round(1e6 * seconds_per_small_op(args.device), 2)}
    for name, change in variants.items():
        if args.tiny and change.get("compile"):
            out[name] = {"skipped": "tiny: compiling ResNet-18 takes minutes on a CPU "
                                    "(tests/test_scale_train.py trains a compiled model)"}
            continue
        out[name] = _variant(replace(base, **change), shape, args, report, steps,
                             warmup + (3 if change.get("compile") else 0),
                             out["us_per_small_op"])
        args.write()
    out["augmentation_ms"] = _augmentation_ms(base, shape, args.device, steps, warmup)
    # cuDNN's autotuner (pretrain.cudnn_benchmark, off in the presets): what it would give.
    out["eager_channels_last_cudnn_benchmark"] = _variant(
        replace(base, cudnn_benchmark=True), shape, args, report, steps, warmup + 2,
        out["us_per_small_op"])
    args.write()
    # The imagenet100 preset's step: the ImageNet stem at its resolution, batch 128.
    from monorobust.config import load_config

    side = 32 if args.tiny else load_config("imagenet100").data.image_size
    big = resnet18_config(args.tiny, "imagenet100")
    out["imagenet100_eager_channels_last"] = {
        "image": [3, side, side], **_variant(big, (3, side, side), args, report, steps, warmup,
                                             out["us_per_small_op"])}
    args.write()
    # Whether CUDA graphs pay at 224 px too (the preset trains eagerly until measured).
    out["imagenet100_compiled_cudagraphs_channels_last"] = (
        {"skipped": "tiny: compiling ResNet-18 takes minutes on a CPU"} if args.tiny else
        {"image": [3, side, side],
         **_variant(replace(big, compile=True, compile_mode="reduce-overhead"), (3, side, side),
                    args, report, steps, warmup + 3, out["us_per_small_op"])})
    return out


def host_syncs(args) -> dict:
    """Host waits per step of the pretraining, SAE and probe loops (``roofline.training_loops``,
    tiny, the fmnist-resnet18 preset's settings): each one leaves the GPU idle until the host
    has queued the next kernels. None off CUDA."""
    from roofline import host_syncs_per_step, training_loops

    loops = training_loops(args.device, args.work / "host-syncs")
    return {f"{name}_per_step": host_syncs_per_step(loop, 4) for name, loop in loops.items()}


def _augmentation_ms(cfg, shape, device: str, steps: int, warmup: int) -> dict:
    """Both SimCLR views of one batch, a pass each (the CPU's choice) and in one pass (the
    GPU's): ``train.augment.simclr_views`` picks by device; this says whether it should."""
    from monorobust.train.augment import simclr_views
    from monorobust.train.batches import augment_generator

    x = torch.rand(cfg.batch_size, *shape, device=device)
    gen = augment_generator(0, 0, 0, torch.device(device))
    return {("one_pass" if one else "a_pass_each"): round(1e3 * time_steps(
        lambda: simclr_views(x, cfg.augment, gen, one_pass=one), steps, warmup, device), 3)
        for one in (False, True)}


def _variant(cfg, shape, args, report: dict, steps: int, warmup: int, us_per_op: float) -> dict:
    try:
        speed = measure_pretrain(cfg, shape, args.device, steps, warmup)
    except Exception as err:                      # one variant failing keeps the others
        return {"error": error_text(err)}
    finally:
        free_device(args.device)
    bf16_peak = (report.get("peaks") or {}).get("bf16_gflops")
    row = {"images_per_second": round(speed.items_per_second, 1),
           "views_per_second": round(2 * speed.items_per_second, 1),
           "tflops": round(speed.gflops_per_second / 1e3, 3),
           "gflop_per_step": round(speed.flops_per_step / 1e9, 2),
           "share_of_measured_bf16_peak": share(speed.gflops_per_second, bf16_peak),
           "step_ms": round(1e3 * cfg.batch_size / speed.items_per_second, 3)}
    if speed.host_syncs_per_step is not None:
        row["host_syncs_per_step"] = speed.host_syncs_per_step
    if speed.ops_per_step is not None:           # eager: the host's floor for that many operators
        row["ops_per_step"] = speed.ops_per_step
        row["dispatch_floor_ms"] = round(speed.ops_per_step * us_per_op / 1e3, 3)
    sheet = _datasheet_peak(args.device)
    if sheet:
        row["share_of_datasheet_bf16_peak"] = share(speed.gflops_per_second, sheet * 1e3)
    return row


def _datasheet_peak(device: str) -> float | None:
    if device != "cuda":
        return None
    from bench_pretrain_lightly import peak_tflops

    return peak_tflops(torch.cuda.get_device_name(), None)


def lightly(args, report: dict) -> dict:
    """The same ResNet-18 step through lightly's pipeline (bench_pretrain_lightly.py)."""
    if "fashion-mnist" in report.get("preflight", {}).get("missing", []):
        return {"skipped": "no Fashion-MNIST: run benchmarks/device_kit.sh and carry .device-kit"}
    try:
        import torchvision as _tv  # noqa: F401
        import lightly.loss as _  # noqa: F401      what bench_pretrain_lightly.py imports
        import lightly.transforms as _lt  # noqa: F401
    except ImportError as err:
        fix = ("carry its wheel (benchmarks/device_kit.sh)"
               if (err.name or "").startswith("lightly") else
               "it must match the machine's torch: install it there")
        return {"skipped": f"{err.name} not installed: {fix}"}
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_pretrain_lightly.py"),
           "--encoder", "resnet18", "--device", args.device,
           "--images", "256" if args.tiny else "20480",
           "--workers", str(min(8, os.cpu_count() or 1))]
    cmd += ["--batch-size", "32", "--proj", "64", "32"] if args.tiny else []
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=_left(args))
    lines = done.stdout.strip().splitlines()
    ratio = next((ln for ln in lines if ln.startswith("ratio:")), None)
    return {"returncode": done.returncode, "output": lines[-8:], "ratio_line": ratio,
            "stderr_tail": done.stderr.strip().splitlines()[-5:] if done.returncode else []}


def end_to_end(args, report: dict) -> dict:
    """A short ``monorobust run --preset fmnist-resnet18``: wall time and each phase's."""
    out = args.work / "e2e"
    missing = report.get("preflight", {}).get("missing", [])
    if "fashion-mnist" in missing:
        return {"skipped": "no Fashion-MNIST: run benchmarks/device_kit.sh and carry .device-kit"}
    grid, left_out = grid_scenarios(missing)
    cmd = [sys.executable, "-m", "monorobust", "run", "--preset", "fmnist-resnet18", "--device",
           args.device, "--seeds", "0", "--out", str(out), "--quiet"]
    for item in (TINY_E2E if args.tiny else FULL_E2E) + [f"grid.scenarios={grid}"] + args.e2e_set:
        cmd += ["--set", item]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=_left(args))
    wall = time.perf_counter() - started
    if done.returncode:
        return {"returncode": done.returncode, "seconds": round(wall, 1),
                "scenarios_left_out": left_out,
                "stderr_tail": done.stderr.strip().splitlines()[-10:]}
    for name in ("run.json", "summary.csv", "report.md"):     # back from the device: seven files
        if (out / name).exists():
            shutil.copy2(out / name, args.out / f"e2e-{name}")
    info = json.loads((out / "run.json").read_text())
    rates = info.get("pretrain_images_per_second", {})
    return {"command": " ".join(cmd[1:]), "seconds": round(wall, 1),
            "run_seconds": round(info["seconds"], 1), "phase_seconds": info.get("phase_seconds"),
            "pretrain_images_per_second": rates,
            "pretrain_views_per_second": {k: round(2 * v, 1) for k, v in rates.items()},
            "pretrain_steady_images_per_second": info.get("pretrain_steady_images_per_second"),
            "precision": info.get("precision"), "summary_rows": _rows(out / "summary.csv"),
            "scenarios_left_out": left_out}


def grid_scenarios(missing: list[str]) -> tuple[str, dict]:
    """The ``grid.scenarios`` value of the end-to-end run, and the scenarios left out, why."""
    scenarios = dict(SCENARIOS)
    left_out = {}
    if "corrupt_tta" in missing:
        del scenarios["corrupt"]
        left_out["corrupt"] = "corrupt-tta not installed (benchmarks/device_kit.sh carries it)"
    return "{" + ", ".join(f"{k}: [{v}]" for k, v in scenarios.items()) + "}", left_out


def _left(args) -> float:
    """Seconds left of the budget: the timeout of the next command."""
    return max(1.0, args.deadline - time.perf_counter())


def _rows(path: Path) -> int:
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--tiny", action="store_true", help="tiny sizes (the CPU test of this script)")
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "gpu-check"))
    p.add_argument("--work", type=Path, default=None,
                   help="folder for the end-to-end run (default: a new temporary folder)")
    p.add_argument("--budget", type=float, default=450.0,
                   help="seconds for all steps: later steps are skipped, commands cut "
                        "(default 450)")
    p.add_argument("--e2e-set", action="append", default=[], metavar="KEY=VALUE",
                   help="another --set for the end-to-end run (e.g. pretrain.compile=true)")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.work = args.work or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    started = time.perf_counter()
    args.deadline = started + args.budget
    report: dict = {"tiny": args.tiny, "environment": environment(args.device)}
    args.write = lambda: _write(args.out / "gpu_check.json", report, started)
    # The measurements first: a test that hangs then costs the figures nothing.
    steps = {"preflight": lambda: preflight(args), "peaks": lambda: peaks(args),
             "resnet18": lambda: resnet18(args, report), "host_syncs": lambda: host_syncs(args),
             "end_to_end": lambda: end_to_end(args, report), "tests": lambda: tests(args),
             "lightly": lambda: lightly(args, report)}
    for name, step in steps.items():
        if _left(args) < 20:
            report[name] = {"skipped": f"past the {args.budget:.0f} s budget"}
        else:
            try:
                report[name] = step()
            except Exception as err:             # recorded; the next steps still run
                report[name] = {"error": error_text(err)}
        args.write()
        print(f"gpu_check: {name} done ({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"gpu_check: wrote {args.out / 'gpu_check.json'}")


def _write(path: Path, report: dict, started: float) -> None:
    report["seconds"] = round(time.perf_counter() - started, 1)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2))
    tmp.replace(path)


if __name__ == "__main__":
    main()
