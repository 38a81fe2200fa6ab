"""Measure features you already have: monosemanticity metrics and the label scenarios.

Takes a feature file (.npy, .pt or .safetensors) for the train split and one for the test
split, with their labels, and prints the metrics and the probe's accuracy under label noise and
few-shot training. (Test-time input-noise scenarios need an encoder: use the Python API
``monorobust.evaluate.robustness(encode, data)``.)
"""

from __future__ import annotations

import argparse

from monorobust.commands.common import seed_type


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train-features", required=True, help="(N, D) array file")
    p.add_argument("--train-labels", required=True, help="(N,) integer array file")
    p.add_argument("--test-features", required=True, help="(M, D) array file")
    p.add_argument("--test-labels", required=True, help="(M,) integer array file")
    p.add_argument("--name", default="custom", help="representation name in the output")
    p.add_argument("--seeds", type=seed_type, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", help="folder for results.jsonl, metrics.jsonl, summary.csv")


def main(args: argparse.Namespace) -> int:
    from monorobust.evaluate.arrays import evaluate_arrays

    evaluate_arrays(args.train_features, args.train_labels, args.test_features,
                    args.test_labels, name=args.name, seeds=tuple(args.seeds), out=args.out,
                    echo=True)
    return 0
