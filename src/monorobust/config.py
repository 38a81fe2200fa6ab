"""The run configuration: typed, frozen, validated; built from a YAML preset plus overrides.

``load_config("quick", overrides)`` reads ``presets/quick.yaml`` (or a path to a YAML file),
applies command-line overrides, and returns a ``RunConfig``. An unknown key or a bad value
raises ``ConfigError`` naming it, before any work starts.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, ClassVar

import yaml

from monorobust.errors import ConfigError
from monorobust.fields import (AT_LEAST_1, OPEN_UNIT, POSITIVE, SEED, Range, build_dataclass,
                               check_distinct, check_fields, read_yaml_mapping, to_dict)
from monorobust.evaluate.config import GridConfig, ProbeConfig
from monorobust.sae.config import SAEConfig
from monorobust.train.config import PretrainConfig

PRESETS = ("quick", "smoke")
DEVICES = ("cpu", "cuda", "gpu", "mps", "auto")


@dataclass(frozen=True)
class DataConfig:
    SECTION: ClassVar[str] = "data"
    """Where this config sits in the run config: errors name keys as SECTION.field."""

    name: str = "fashion-mnist"
    """Dataset name from ``monorobust.data.DATASETS``."""
    data_dir: str | None = None
    """Folder to read the dataset from (default: the dataset's own search path); for
    ``arrays``, the .npz file. Recorded as an absolute path, so the run folder's config.yaml
    finds the data from any working directory."""
    val_fraction: Annotated[float, OPEN_UNIT] = 0.1
    """Share of the training data held out (stratified) for every choice made in evaluation."""
    train_size: Annotated[int, Range(ge=10)] | None = None
    """Use only this many training images (stratified subset), e.g. for quick runs; null: all."""
    test_size: Annotated[int, Range(ge=10)] | None = None
    """Use only this many test images (stratified subset); null: all."""
    image_size: Annotated[int, AT_LEAST_1] | None = None
    """Resolution (px) at which datasets read from image files are decoded (imagenet100: 224,
    folder: 32 by default); null: the dataset's own. Fixed-size datasets (CIFAR, MNIST, arrays)
    refuse it."""
    channels: int | None = None
    """Image channels, 1 (grey) or 3 (RGB), for datasets that convert (folder, arrays); null:
    the dataset's own (folder: those of its first training image). Others refuse it."""

    def __post_init__(self) -> None:
        from monorobust.data import DATASETS, reads_file

        check_fields(self)
        DATASETS.get(self.name)
        if self.channels not in (None, 1, 3):
            raise ConfigError(f"data.channels must be 1 or 3 (or null), got {self.channels!r}")
        if self.data_dir is not None:
            path = Path(self.data_dir).expanduser()
            if reads_file(self.name) and not path.is_file():
                raise ConfigError(f"data.data_dir {self.data_dir!r} does not exist or is not a "
                                  f"file; dataset {self.name!r} reads one file: pass it with "
                                  "--data-dir FILE")
            if not reads_file(self.name) and not path.is_dir():
                raise ConfigError(f"data.data_dir {self.data_dir!r} does not exist; pass an "
                                  "existing folder with --data-dir or leave it out")
            object.__setattr__(self, "data_dir", str(path.resolve()))


@dataclass(frozen=True)
class RunConfig:
    SECTION: ClassVar[str] = ""
    """Where this config sits in the run config: errors name keys as SECTION.field."""

    out: str = "runs/quick"
    """Output folder of the run (config, checkpoints, results, report)."""
    seeds: Annotated[tuple[int, ...], SEED] = (0, 1, 2)
    """Seeds: each pretrains its own encoders and draws its own noise, subsets and probes."""
    representations: tuple[str, ...] = ("cl", "ncl", "cl+sae")
    """Representations to compare, from ``monorobust.evaluate.REPRESENTATIONS``."""
    device: str = "cpu"
    """Accelerator: cpu, cuda, mps, auto."""
    devices: Annotated[int, AT_LEAST_1] = 1
    """Processes / GPUs per node (DDP when > 1)."""
    num_nodes: Annotated[int, AT_LEAST_1] = 1
    """Nodes for multi-node DDP."""
    strategy: str = "auto"
    """Lightning Fabric strategy: auto, ddp, ..."""
    dist_timeout_minutes: Annotated[float, POSITIVE] = 360.0
    """With several processes, how long one waits for the others in a collective before the
    run fails. Rank 0 evaluates the whole grid alone after each pretraining while the others
    wait, so this must exceed that evaluation (torch's default, 30 min, may not at paper scale)."""
    data: DataConfig = field(default_factory=DataConfig)
    """The dataset."""
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    """Contrastive pretraining."""
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    """The linear probe."""
    grid: GridConfig = field(default_factory=GridConfig)
    """The robustness scenarios and their severities."""
    sae: SAEConfig = field(default_factory=SAEConfig)
    """The TopK sparse autoencoder of the ``cl+sae`` representation."""

    def __post_init__(self) -> None:
        from monorobust.evaluate import REPRESENTATIONS

        check_fields(self)
        if not self.seeds:
            raise ConfigError("seeds must list at least one seed")
        check_distinct("seeds", self.seeds)
        if self.device not in DEVICES:
            raise ConfigError(f"device {self.device!r} is not supported; pick one of "
                              f"{', '.join(DEVICES)}")
        if not self.representations:
            raise ConfigError("representations must list at least one representation")
        check_distinct("representations", self.representations)
        for rep in self.representations:
            REPRESENTATIONS.get(rep)
        # A pretrained backbone (hf:...) serves the frozen* representations only, and they need one.
        hf = self.pretrain.encoder.startswith("hf:")
        wrong = [r for r in self.representations
                 if (REPRESENTATIONS.get(r).objective == "frozen") != hf]
        if wrong:
            raise ConfigError(
                f"representations {wrong} do not fit pretrain.encoder {self.pretrain.encoder!r}: "
                + ("a hf: backbone is frozen, pick from frozen, frozen+sae, frozen+cl, frozen+ncl"
                   if hf else "the frozen* representations need pretrain.encoder hf:<model>"))


def preset_path(name_or_path: str) -> Path:
    if name_or_path.endswith((".yaml", ".yml")):
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise ConfigError(f"preset file {name_or_path!r} not found")
        return path
    path = Path(str(resources.files("monorobust") / "presets" / f"{name_or_path}.yaml"))
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ConfigError(f"unknown preset {name_or_path!r}; known: {', '.join(known)} "
                          "(or a path to a .yaml file)")
    return path


def _set(tree: dict, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for p in parents:
        tree = tree.setdefault(p, {})
        if not isinstance(tree, dict):
            raise ConfigError(f"cannot set {dotted}: {p} is not a section")
    tree[leaf] = value


def load_config(preset: str = "quick", overrides: dict[str, Any] | None = None) -> RunConfig:
    """The preset's values with ``overrides`` (dotted keys, e.g. ``"data.data_dir"``) applied."""
    path = preset_path(preset)
    tree = read_yaml_mapping(path)
    tree.pop("preset", None)
    tree.pop("results_format", None)         # recorded by a run folder's config.yaml (rundir)
    given = copy.deepcopy(tree)
    for key, value in (overrides or {}).items():
        if value is not None:
            _set(tree, key, value)
    try:
        return build_dataclass(RunConfig, tree)
    except ConfigError as err:
        # The same error from the file alone: the file is where to fix it, so name it.
        if tree != given and _error_of(given) != str(err):
            raise
        raise ConfigError(f"{path}: {err}") from None


def _error_of(tree: dict[str, Any]) -> str | None:
    try:
        build_dataclass(RunConfig, tree)
    except ConfigError as err:
        return str(err)
    return None


def dump_yaml(cfg: Any) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
