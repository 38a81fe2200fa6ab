"""Toy models behind the theory: superposition and the two-feature example under noise.

Part ``superposition``: a toy model of superposition (n sparse features through m hidden
dimensions) trained as a polysemantic (standard) and a monosemantic (W >= 0) code, their
monosemanticity measured, and linear classifiers on each code swept over label noise and
Gaussian input noise over seeds. Part ``two-feature``: x1, x2 sparse, y = [x1 > x2]; the codes
x1, x1 - x2 and w1 x1 - w2 x2 compared by several separability and accuracy measures, with the
crossover points (or their absence). Writes PNG figures and OUT/toy.json. See docs/toy.md.
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/toy", help="output folder (default: runs/toy)")
    p.add_argument("--seed", type=int, default=0, help="base seed (default: 0)")
    p.add_argument("--part", default="all", choices=["superposition", "two-feature", "all"])
    g = p.add_argument_group("superposition part")
    g.add_argument("--n-features", type=int, default=40)
    g.add_argument("--n-hidden", type=int, default=20)
    g.add_argument("--sparsity", type=float, default=0.9, help="P(feature = 0), in [0, 1)")
    g.add_argument("--importance-decay", type=float, default=0.9, help="importance_i = decay**i")
    g.add_argument("--steps", type=int, default=3000)
    g.add_argument("--batch-size", type=int, default=1024)
    g.add_argument("--n-seeds", type=int, default=3)
    g.add_argument("--num-classes", type=int, default=4)
    g.add_argument("--n-train", type=int, default=4000, help="downstream train (= test) samples")
    g.add_argument("--probe-steps", type=int, default=300, help="linear classifier Adam steps")
    g.add_argument("--label-rates", type=float, nargs="+",
                   default=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    g.add_argument("--noise-stds", type=float, nargs="+",
                   default=[0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0])
    t = p.add_argument_group("two-feature part")
    t.add_argument("--tf-sparsity", type=float, default=0.5, help="S = P(x_i = 0), in [0, 1)")
    t.add_argument("--tf-weights", type=float, nargs=2, default=[1.0, 0.5], metavar=("W1", "W2"))
    t.add_argument("--tf-label-rates", type=float, nargs="+",
                   default=[0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45])
    t.add_argument("--tf-noise-stds", type=float, nargs="+",
                   default=[0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0])
    t.add_argument("--tf-n-train", type=int, nargs="+", default=[100, 1000])
    t.add_argument("--tf-repeats", type=int, default=200)
    t.add_argument("--tf-n-pop", type=int, default=200_000)


def main(args: argparse.Namespace) -> int:
    from monorobust.theory.toy import ToyConfig, run_toy

    names = ("seed", "part", "n_features", "n_hidden", "sparsity", "importance_decay", "steps",
             "batch_size", "n_seeds", "num_classes", "n_train", "probe_steps", "tf_sparsity",
             "tf_repeats", "tf_n_pop")
    kwargs = {k: getattr(args, k) for k in names if hasattr(args, k)}
    for k in ("label_rates", "noise_stds", "tf_weights", "tf_label_rates", "tf_noise_stds",
              "tf_n_train"):
        kwargs[k] = tuple(getattr(args, k))
    cfg = ToyConfig(**kwargs)
    run_toy(cfg, args.out)
    return 0
