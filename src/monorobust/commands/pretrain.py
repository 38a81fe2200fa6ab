"""Pretrain one representation's encoder (cl or ncl) for each seed, with checkpoints and resume.

Writes OUT/checkpoints/OBJECTIVE-seedS/epoch-XXXX.safetensors (safetensors + JSON metadata)
and OUT/config.yaml, so that ``monorobust run``, ``sae`` and ``finetune`` on OUT take it from there.
"""

from __future__ import annotations

import argparse

from monorobust.commands.common import add_run_arguments, config_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_arguments(p, representations=False)
    p.add_argument("--objective", choices=["cl", "ncl"], default="cl", help="default: cl")


def main(args: argparse.Namespace) -> int:
    from monorobust.data.prepare import prepare_splits
    from monorobust.experiment import check_memory, check_pretraining_data, open_run_dir

    cfg = config_from_args(args)
    splits = prepare_splits(cfg.data)
    check_pretraining_data(cfg, splits)
    check_memory(cfg, splits)
    with open_run_dir(cfg, "pretrain") as fabric:
        _pretrain_seeds(cfg, splits, fabric, args)
    return 0


def _pretrain_seeds(cfg, splits, fabric, args: argparse.Namespace) -> None:
    from monorobust.rundir import RunDir
    from monorobust.train import pretrain
    from monorobust.train.parallel import PretrainJob, pretrain_side_by_side, side_by_side

    jobs = [PretrainJob(args.objective, seed, RunDir(cfg.out).checkpoints(args.objective, seed))
            for seed in cfg.seeds]
    if side_by_side(cfg.pretrain, fabric):      # as `monorobust run` would: the same numbers
        results = pretrain_side_by_side(splits.train.images, cfg.pretrain, jobs,
                                        progress=not args.quiet)
    else:
        results = [pretrain(splits.train.images, cfg.pretrain, job.objective, job.seed,
                            job.out_dir, fabric, progress=not args.quiet) for job in jobs]
    if fabric.global_rank == 0:
        for job, result in zip(jobs, results):
            speed = "" if result.images_per_second is None else \
                f", {result.images_per_second:.0f} images/s"
            print(f"{job.objective} seed {job.seed}: final loss {result.losses[-1]:.4f}{speed} "
                  f"-> {job.out_dir}")
