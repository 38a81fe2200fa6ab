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
    from monorobust.flags import add_dataclass_arguments, add_set_option
    from monorobust.theory.toy import SuperpositionConfig, ToyConfig, TwoFeatureConfig

    # One flag per config field, its docstring as help: the configs are the only place a knob
    # is named, typed, bounded and defaulted.
    p.add_argument("--out", default="runs/toy", help="output folder (default: runs/toy)")
    add_dataclass_arguments(p, ToyConfig)
    add_dataclass_arguments(p.add_argument_group("superposition part"), SuperpositionConfig)
    add_dataclass_arguments(p.add_argument_group("two-feature part"), TwoFeatureConfig, prefix="tf_")
    add_set_option(p, "superposition.n_features=20")


def main(args: argparse.Namespace) -> int:
    from monorobust.flags import dataclass_from_args
    from monorobust.theory.toy import SuperpositionConfig, ToyConfig, TwoFeatureConfig, run_toy

    from monorobust.errors import ConfigError
    from monorobust.flags import parse_sets

    for key in parse_sets(args.set):
        if "." in key and key.split(".")[0] not in ("superposition", "two_feature"):
            raise ConfigError(f"--set {key}: unknown section {key.split('.')[0]!r}; known: "
                              "superposition, two_feature (or a top-level key: seed, part)")
    parts = {"superposition": dataclass_from_args(SuperpositionConfig, args, section="superposition"),
             "two_feature": dataclass_from_args(TwoFeatureConfig, args, prefix="tf_",
                                                section="two_feature")}
    run_toy(dataclass_from_args(ToyConfig, args, parts), args.out)
    return 0
