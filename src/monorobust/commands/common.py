"""Arguments shared by the subcommands that build a run config."""

from __future__ import annotations

import argparse

from monorobust.config import RunConfig, load_config
from monorobust.errors import ConfigError
from monorobust.fields import SEED
from monorobust.flags import add_set_option, parse_sets


def seed_type(text: str) -> int:
    """argparse type of a seed: a whole number in [0, 2**63) (``fields.SEED``)."""
    value = int(text)                   # a ValueError reads "invalid seed_type value: 'x'"
    if value < SEED.ge or value >= SEED.lt:
        raise argparse.ArgumentTypeError(f"a seed must be >= 0 and < 2**63, got {value}")
    return value


def add_run_arguments(p: argparse.ArgumentParser, representations: bool = True) -> None:
    """The flags of a command that trains into a run folder; ``representations=False`` for one
    that evaluates none (``pretrain``, ``finetune``), where the flag would only be recorded."""
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
    if representations:
        p.add_argument("--representations", nargs="+", help="e.g. --representations cl ncl")
    p.add_argument("--logger", choices=("csv", "tensorboard"),
                   help="per-step pretraining curves: csv (default) or csv + tensorboard")
    add_set_option(p, "pretrain.epochs=5")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def config_from_args(args: argparse.Namespace, own: tuple[str, ...] = ()) -> RunConfig:
    """The run config of the preset with the flags and ``--set`` values applied; ``own`` names
    sections of ``--set`` that belong to the subcommand's own config (``finetune.lr``)."""
    flags = {"out": "out", "data.data_dir": "data_dir", "data.name": "dataset", "seeds": "seeds",
             "device": "device", "devices": "devices", "num_nodes": "num_nodes",
             "strategy": "strategy", "representations": "representations",
             "pretrain.logger": "logger"}
    overrides = {key: getattr(args, attr, None) for key, attr in flags.items()}
    sets = {k: v for k, v in parse_sets(args.set).items() if k.split(".")[0] not in own}
    for key in sets:
        if overrides.get(key) is not None:
            flag = "--" + flags[key].replace("_", "-")
            raise ConfigError(f"{key} is given twice, by {flag} and by --set {key}=...; give "
                              "it once")
    return load_config(args.preset, {**overrides, **sets})
