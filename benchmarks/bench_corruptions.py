"""The corrupt scenario one corruption at a time: a run's CL probe per corruption and severity,
and the seconds a 2,000-image job takes.

    python benchmarks/bench_corruptions.py accuracy RUN_FOLDER [--seed 0] [--corruptions ...]
        [--calibration auto|cifar-10-c|imagenet-c]
    python benchmarks/bench_corruptions.py speed [--n 2000] [--corruptions ...] [--calibration ...]

``accuracy``: RUN_FOLDER's finished ``cl`` encoder of ``--seed``; a probe trained on its clean
training features as the grid trains it (``train_probe``, the run's ProbeConfig, the same seed);
then, for each corruption (default: the run's ``grid.corruptions``) and severity 1-5, the probe's
accuracy on the scenario's own corrupted test subset (``Corrupt.test_images``: the run's
``grid.shift_test_size`` images, the grid's seeds), one corruption at a time, with
``--calibration``'s tables (default: the run's ``grid.corruption_calibration``). The mean over the
corruptions at a severity is close to the run's ``corrupt`` row (the run trains its clean probe
in one batched loop with the label-noise probes, equal up to float rounding, whose selected step
can differ: on the quick preset's seed 0, 52.2 / 44.9 / 39.7% here against 52.4 / 44.9 /
39.3% in the run at severities 1 / 3 / 5, imagenet-c). ``speed``: the fastest of two
``corrupt()`` calls on ``--n`` random 28x28 greyscale images, in this process, per corruption at
severities 1 / 3 / 5, with ``--calibration``'s tables (default auto: cifar-10-c at 28 px).

To compare two versions of the code, run each with its ``src`` first on ``PYTHONPATH`` (e.g. a
``git archive`` of the older commit). Prints a table and, with ``--json``, writes the numbers.
Run by hand; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def accuracy(run: Path, seed: int, names: list[str] | None, calibration: str | None) -> dict:
    from monorobust.config import RunConfig
    from monorobust.data.prepare import prepare_splits
    from monorobust.evaluate.features import extract, model_encoder
    from monorobust.evaluate.probe import train_probe
    from monorobust.evaluate.scenarios import SCENARIOS
    from monorobust.evaluate.scenarios.domain_shift import ShiftParams
    from monorobust.evaluate.testsets import _subset
    from monorobust.rundir import RunDir
    from monorobust.train.checkpoint import latest_checkpoint
    from monorobust.train.pretrain import load_pretrained

    folder = RunDir(run)
    cfg = folder.read_config(RunConfig)
    splits = prepare_splits(cfg.data)
    model = load_pretrained(latest_checkpoint(folder.checkpoints("cl", seed)),
                            tuple(splits.train.images.shape[1:]))
    encode = model_encoder(model, cfg.probe.features)
    scenario = SCENARIOS.get("corrupt")
    params = scenario.params(cfg.grid)
    test = _subset(splits.test, params.test_size)
    with torch.no_grad():
        train, val = extract(encode, splits.train.images), extract(encode, splits.val.images)
    probe = train_probe(train, splits.train.labels, val, splits.val.labels, splits.num_classes,
                        cfg.probe, seed)
    with torch.no_grad():
        out = {"clean": probe.accuracy(extract(encode, test.images.float() / 255), test.labels)}
        print(f"clean ({len(test)} images): {100 * out['clean']:.1f}")
        for name in names or cfg.grid.corruptions:
            one = ShiftParams((name,), params.test_size, calibration or params.calibration)
            out[name] = [probe.accuracy(extract(encode, scenario.test_images(test.images, s, seed,
                                                                              one)), test.labels)
                         for s in range(1, 6)]
            print(f"{name:18s}", " / ".join(f"{100 * a:.1f}" for a in out[name]), flush=True)
    return out


def speed(n: int, names: list[str] | None, calibration: str | None) -> dict:
    from monorobust.perturb import corrupt

    x = (torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    out = {}
    for name in names or ["contrast", "fog", "pixelate", "motion_blur", "jpeg_compression",
                          "elastic_transform"]:
        for severity in (1, 3, 5):
            best = float("inf")
            for _ in range(2):
                start = time.perf_counter()
                corrupt(x, name, severity, seed=0, calibration=calibration or "auto")
                best = min(best, time.perf_counter() - start)
            out[f"{name}@{severity}"] = best
            print(f"{name:18s} {severity}  {best:.3f} s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    acc = sub.add_parser("accuracy")
    acc.add_argument("run", type=Path)
    acc.add_argument("--seed", type=int, default=0)
    spd = sub.add_parser("speed")
    spd.add_argument("--n", type=int, default=2000)
    for p in (acc, spd):
        p.add_argument("--corruptions", nargs="+")
        p.add_argument("--calibration", choices=("auto", "cifar-10-c", "imagenet-c"))
        p.add_argument("--json", type=Path)
    args = parser.parse_args()
    out = (accuracy(args.run, args.seed, args.corruptions, args.calibration)
           if args.what == "accuracy" else speed(args.n, args.corruptions, args.calibration))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
