"""LoRA vs MonoLoRA on language models: few-shot/noisy-label classification and alignment retention.

  monorobust lora classify   MiniLM + head on tweet sentiment and BBC News, k per class, label noise
  monorobust lora align      SmolLM2-135M-Instruct: teach refusal, then benign fine-tuning with LoRA
                             vs MonoLoRA; refusal rate, task accuracy and adapter sparsity

Both print a mean ± std table over seeds and write config.json, results.jsonl, summary.csv and
table.txt to --out. Rerunning the same command reuses finished runs. See docs/lora.md.
"""

from __future__ import annotations

import argparse


def _config_classes() -> tuple[type, type]:
    from monorobust.adapters.align_config import AlignConfig
    from monorobust.adapters.classify_config import ClassifyConfig

    return ClassifyConfig, AlignConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    from monorobust.flags import add_dataclass_arguments, add_set_option

    classify_cls, align_cls = _config_classes()
    sub = p.add_subparsers(dest="lora_command", metavar="{classify,align}", required=True)
    c = sub.add_parser("classify", help="few-shot / noisy-label text classification, LoRA vs MonoLoRA",
                       description="MiniLM (mean-pooled) + linear head, fine-tuned with LoRA or MonoLoRA "
                                   "on k examples per class with symmetric label noise; clean test split.")
    c.add_argument("--out", default="runs/lora-classify", help="output folder (default: runs/lora-classify)")
    add_dataclass_arguments(c, classify_cls)
    add_set_option(c, "steps=48")
    a = sub.add_parser("align", help="alignment retention under benign fine-tuning, LoRA vs MonoLoRA",
                       description="Stage 1 teaches a chat model to refuse part of HarmBench (plus benign "
                                   "instructions answered as before); stage 2 fine-tunes it on tweet "
                                   "sentiment with LoRA and MonoLoRA; refusal on held-out behaviours.")
    a.add_argument("--out", default="runs/lora-align", help="output folder (default: runs/lora-align)")
    a.add_argument("--cache-dir", default=None,
                   help="where the dequantised model and the stage-1 model are cached "
                        "(default: $MONOROBUST_CACHE or ~/.cache/monorobust)")
    add_dataclass_arguments(a, align_cls)
    add_set_option(a, "finetune_steps=30")


def main(args: argparse.Namespace) -> int:
    from monorobust.flags import dataclass_from_args

    classify_cls, align_cls = _config_classes()
    if args.lora_command == "classify":
        from monorobust.adapters.classify import run_classify

        cfg = dataclass_from_args(classify_cls, args)
        print(run_classify(cfg, args.out))
    else:
        from monorobust.adapters.align import run_align

        cfg = dataclass_from_args(align_cls, args)
        print(run_align(cfg, args.out, cache_dir=args.cache_dir))
    return 0
