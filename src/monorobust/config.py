"""The run configuration: typed, frozen, validated; built from a YAML preset plus overrides.

``load_config("quick", overrides)`` reads ``presets/quick.yaml`` (or a path to a YAML file),
applies command-line overrides, and returns a ``RunConfig``. An unknown key or a bad value
raises ``ConfigError`` naming it, before any work starts.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from monorobust.errors import ConfigError
from monorobust.evaluate.config import GridConfig, ProbeConfig
from monorobust.sae.config import SAEConfig
from monorobust.train.config import PretrainConfig

PRESETS = ("quick", "smoke")


@dataclass(frozen=True)
class DataConfig:
    name: str = "fashion-mnist"
    """Dataset name from ``monorobust.data.DATASETS``."""
    data_dir: str | None = None
    """Folder to read the dataset from (default: the dataset's own search path)."""
    val_fraction: float = 0.1
    """Share of the training data held out (stratified) for every choice made in evaluation."""
    train_size: int | None = None
    """Use only this many training images (stratified subset), e.g. for quick runs; null: all."""
    test_size: int | None = None
    """Use only this many test images (stratified subset); null: all."""
    image_size: int | None = None
    """Resolution (px) at which datasets read from image files are decoded (imagenet100:
    224 by default); null: the dataset's own. Fixed-size datasets (CIFAR, MNIST) refuse it."""

    def __post_init__(self) -> None:
        from monorobust.data import DATASETS

        DATASETS.get(self.name)
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"data.val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.data_dir is not None and not Path(self.data_dir).expanduser().is_dir():
            raise ConfigError(f"data.data_dir {self.data_dir!r} does not exist; pass an existing "
                              "folder with --data-dir or leave it out")
        for name in ("train_size", "test_size"):
            if getattr(self, name) is not None and getattr(self, name) < 10:
                raise ConfigError(f"data.{name} must be null or >= 10")


@dataclass(frozen=True)
class RunConfig:
    out: str = "runs/quick"
    """Output folder of the run (config, checkpoints, results, report)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds: each pretrains its own encoders and draws its own noise, subsets and probes."""
    representations: tuple[str, ...] = ("cl", "ncl", "cl+sae")
    """Representations to compare, from ``monorobust.evaluate.REPRESENTATIONS``."""
    device: str = "cpu"
    """Accelerator: cpu, cuda, mps, auto."""
    devices: int = 1
    """Processes / GPUs per node (DDP when > 1)."""
    num_nodes: int = 1
    """Nodes for multi-node DDP."""
    strategy: str = "auto"
    """Lightning Fabric strategy: auto, ddp, ..."""
    dist_timeout_minutes: float = 360.0
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

        if not self.seeds:
            raise ConfigError("seeds must list at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds {list(self.seeds)} contain duplicates")
        if not self.representations:
            raise ConfigError("representations must list at least one representation")
        for rep in self.representations:
            REPRESENTATIONS.get(rep)
        if self.devices < 1 or self.num_nodes < 1:
            raise ConfigError("devices and num_nodes must be >= 1")
        if self.dist_timeout_minutes <= 0:
            raise ConfigError("dist_timeout_minutes must be > 0")


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Coerce a YAML value to the annotated type (tuples, nested dataclasses, optionals)."""
    origin = typing.get_origin(tp)
    if _is_dataclass_type(tp):
        return build_dataclass(tp, value, key)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        if isinstance(value, str) and value.lower() in ("none", "null") and type(None) in args:
            raise ConfigError(f"{key}: write null, not the string {value!r}")
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], key) if len(inner) == 1 else value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        args = typing.get_args(tp)
        item = args[0] if args else Any
        if len(args) == 2 and args[1] is Ellipsis or len(args) == 1:
            return tuple(_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{key} must have {len(args)} items, got {len(value)}")
        return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        _, vt = typing.get_args(tp)
        return {str(k): _convert(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and not (isinstance(value, tp) and
                                             not (tp is int and isinstance(value, bool))):
        raise ConfigError(f"{key} must be {tp.__name__}, got {value!r}")
    return value


def build_dataclass(cls: type, values: Any, prefix: str = "") -> Any:
    """Instantiate dataclass ``cls`` from a (nested) mapping, rejecting unknown keys by name."""
    if values is None:
        values = {}
    if dataclasses.is_dataclass(values):
        return values
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix or 'config'} must be a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in names:
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"unknown config key {where!r}; known keys here: {', '.join(sorted(names))}")
    kwargs = {k: _convert(v, hints[k], f"{prefix}.{k}" if prefix else k) for k, v in values.items()}
    return cls(**kwargs)


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
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as err:   # binary or damaged files too
        raise ConfigError(f"{path} is not valid YAML ({err}); fix or delete it") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys, not a "
                          f"{type(tree).__name__}; fix or delete it")
    tree.pop("preset", None)
    for key, value in (overrides or {}).items():
        if value is not None:
            _set(tree, key, value)
    return build_dataclass(RunConfig, tree)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain nested dict (tuples as lists) for YAML/JSON output."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(cfg)


def dump_yaml(cfg: Any) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
