"""Arguments shared by the subcommands that build a run config."""

from __future__ import annotations

import argparse

from monorobust.config import RunConfig, load_config
from monorobust.flags import add_set_option, parse_sets


def seed_type(text: str) -> int:
    """argparse type of a seed: a whole number >= 0."""
    value = int(text)                   # a ValueError reads "invalid seed_type value: 'x'"
    if value < 0:
        raise argparse.ArgumentTypeError(f"a seed must be >= 0, got {value}")
    return value


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="quick",
                   help="preset name (quick, smoke, ...) or path to a YAML file (default: quick)")
    p.add_argument("--out", help="output folder (default: the preset's, e.g. runs/quick)")
    p.add_argument("--data-dir", help="folder to read the dataset from")
    p.add_argument("--dataset", help="dataset name (fashion-mnist, digits, ...)")
    p.add_argument("--seeds", type=seed_type, nargs="+", help="seeds, e.g. --seeds 0 1 2")
    p.add_argument("--device", help="cpu, cuda, mps or auto")
    p.add_argument("--devices", type=int, help="processes / GPUs per node (DDP when > 1)")
    p.add_argument("--num-nodes", type=int, help="number of nodes")
    p.add_argument("--strategy", help="Lightning Fabric strategy (auto, ddp, ...)")
    p.add_argument("--representations", nargs="+", help="e.g. --representations cl ncl")
    p.add_argument("--logger", choices=("csv", "tensorboard"),
                   help="per-step pretraining curves: csv (default) or csv + tensorboard")
    add_set_option(p, "pretrain.epochs=5")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def config_from_args(args: argparse.Namespace, own: tuple[str, ...] = ()) -> RunConfig:
    """The run config of the preset with the flags and ``--set`` values applied; ``own`` names
    sections of ``--set`` that belong to the subcommand's own config (``finetune.lr``)."""
    overrides = {
        "out": args.out, "data.data_dir": args.data_dir, "data.name": args.dataset,
        "seeds": args.seeds, "device": args.device, "devices": args.devices,
        "num_nodes": args.num_nodes, "strategy": args.strategy,
        "representations": args.representations, "pretrain.logger": args.logger,
    }
    overrides.update({k: v for k, v in parse_sets(args.set).items() if k.split(".")[0] not in own})
    return load_config(args.preset, overrides)
