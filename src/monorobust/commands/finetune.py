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
    add_run_arguments(p)
    p.add_argument("--objectives", nargs="+", help="pretrained encoders to start from (default: cl ncl)")
    p.add_argument("--heads", nargs="+", help="standard and/or mono (default: both)")
    p.add_argument("--label-noise", type=float, nargs="+", help="noise rates (default: 0.6)")
    p.add_argument("--few-shot", type=int, nargs="+", help="examples per class (default: 10)")
    p.add_argument("--no-clean", action="store_true", help="skip the clean reference setting")
    p.add_argument("--train-size", type=int, help="fine-tuning images (default: 1000; 0 = all)")
    p.add_argument("--val-size", type=int, help="validation images (default: 500; 0 = all)")
    p.add_argument("--epochs", type=int, help="fine-tuning epochs (default: 20)")
    p.add_argument("--batch-size", type=int, help="default: 256")
    p.add_argument("--lr", type=float, help="backbone AdamW learning rate (default: 1e-4)")
    p.add_argument("--head-lr", type=float, help="classifier learning rate (default: 1e-3)")
    p.add_argument("--augment", action="store_true", help="random crops and flips")


def finetune_config(args: argparse.Namespace):
    from monorobust.config import build_dataclass
    from monorobust.finetune import FinetuneConfig

    values = {"objectives": args.objectives, "heads": args.heads, "label_noise": args.label_noise,
              "few_shot": args.few_shot, "epochs": args.epochs, "batch_size": args.batch_size,
              "lr": args.lr, "head_lr": args.head_lr}
    values = {k: v for k, v in values.items() if v is not None}
    for key in ("train_size", "val_size"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key) or None
    if args.no_clean:
        values["clean"] = False
    if args.augment:
        values["augment"] = True
    return build_dataclass(FinetuneConfig, values, "finetune")


def main(args: argparse.Namespace) -> int:
    import time

    from monorobust.finetune import format_table, run_finetune

    run = config_from_args(args)
    cfg = finetune_config(args)
    started = time.perf_counter()
    summary = run_finetune(run, cfg, progress=not args.quiet)
    print(f"\nfine-tuning ({run.data.name}, {run.pretrain.encoder}, {cfg.train_size or 'all'} "
          f"training images, {cfg.epochs} epochs; accuracy %, mean over {len(run.seeds)} seeds;"
          " epoch selected on validation)")
    print(format_table(summary))
    print(f"\nwrote {run.out}/finetune.jsonl in {time.perf_counter() - started:.0f} s")
    return 0
