"""Full fine-tuning with a standard or monosemantic (ReLU) head, under label noise and few-shot.

    monorobust finetune                         # the quick preset's run folder (runs/quick)
    monorobust finetune --out runs/quick --label-noise 0.4 0.8 --few-shot 5 --epochs 20

Starts from the run's CL and NCL checkpoints (pretraining them first if missing), fine-tunes
backbone + projector + linear classifier on g(f(x)) ("standard") or relu(g(f(x))) ("mono"),
records train and validation accuracy per epoch, keeps the epoch with the best validation
accuracy and scores it on the test split. Rows go to OUT/finetune.jsonl; a rerun resumes.
"""

from __future__ import annotations

import argparse

from monorobust.commands.common import add_run_arguments, config_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    from monorobust.finetune import FinetuneConfig
    from monorobust.flags import add_dataclass_arguments

    add_run_arguments(p, representations=False)
    # One flag per FinetuneConfig field (--train-size null: every training image); --set
    # finetune.KEY=VALUE works too.
    add_dataclass_arguments(p.add_argument_group("fine-tuning"), FinetuneConfig)


def main(args: argparse.Namespace) -> int:
    import time

    from monorobust.finetune import FinetuneConfig, format_table, run_finetune
    from monorobust.flags import dataclass_from_args
    from monorobust.rundir import RunDir

    run = config_from_args(args, own=("finetune",))
    cfg = dataclass_from_args(FinetuneConfig, args, section="finetune")
    started = time.perf_counter()
    summary = run_finetune(run, cfg, progress=not args.quiet)
    print(f"\nfine-tuning ({run.data.name}, {run.pretrain.encoder}, {cfg.train_size or 'all'} "
          f"training images, {cfg.epochs} epochs; accuracy %, mean over {len(run.seeds)} seeds;"
          " epoch selected on validation)")
    print(format_table(summary))
    print(f"\nwrote {RunDir(run.out) / RunDir.FINETUNE} in {time.perf_counter() - started:.0f} s")
    return 0
