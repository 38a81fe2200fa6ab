"""``monorobust run``: pretrain every representation, run the robustness grid, summarise.

For every seed: pretrain one encoder per objective the chosen representations need (resuming
from checkpoints), extract its features once per test set, map them to each representation,
measure monosemanticity, then run every scenario x severity. Each result row is appended
atomically as soon as it exists; rerunning the same command skips finished rows and resumes
pretraining from the last checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import torch
from safetensors.torch import save as st_save

from monorobust import results as store
from monorobust.config import RunConfig, dump_yaml, load_config
from monorobust.data import Splits, load_dataset, make_splits, stratified_split
from monorobust.errors import ConfigError
from monorobust.evaluate import (
    REPRESENTATIONS, FeatureSet, check_grid, encode_feature_set, evaluate_features, grid_points,
    model_encoder,
)
from monorobust.evaluate.testsets import iter_test_sets
from monorobust.fields import config_diff
from monorobust.io import (
    IntegrityWarning, append_jsonl, atomic_write_bytes, atomic_write_text, read_jsonl, write_json,
)
from monorobust.lock import hold_folder
from monorobust.metrics import summarize
from monorobust.train import pretrain
from monorobust.train.precision import resolve_precision

if TYPE_CHECKING:
    from lightning.fabric import Fabric


class RunResult(NamedTuple):
    out: Path
    summary: "object"
    seconds: float


def prepare_data(cfg: RunConfig) -> Splits:
    """Load the dataset, subsample as configured and hold out the validation split."""
    ds = load_dataset(cfg.data.name, cfg.data.data_dir, cfg.data.image_size, cfg.data.channels)
    if cfg.data.train_size and cfg.data.train_size < len(ds.train):
        _, keep = stratified_split(ds.train.labels, cfg.data.train_size / len(ds.train), seed=0)
        ds = ds._replace(train=ds.train.subset(keep))
    if cfg.data.test_size and cfg.data.test_size < len(ds.test):
        _, keep = stratified_split(ds.test.labels, cfg.data.test_size / len(ds.test), seed=0)
        ds = ds._replace(test=ds.test.subset(keep))
    return make_splits(ds, cfg.data.val_fraction, seed=0)


def make_fabric(cfg: RunConfig, launch: bool = True):
    """Lightning Fabric for ``cfg``'s devices; with several processes, launched unless ``launch``
    is False (then the caller calls ``launch_fabric``)."""
    from datetime import timedelta

    from lightning.fabric import Fabric
    from lightning.fabric.strategies import DDPStrategy

    many = cfg.devices * cfg.num_nodes > 1
    strategy = cfg.strategy
    if many and strategy in ("auto", "ddp"):     # what "auto" picks for several processes
        strategy = DDPStrategy(timeout=timedelta(minutes=cfg.dist_timeout_minutes))
    try:
        fabric = Fabric(accelerator=cfg.device, devices=cfg.devices, num_nodes=cfg.num_nodes,
                        strategy=strategy,
                        precision=resolve_precision(cfg.pretrain.precision, cfg.device).precision)
    except (RuntimeError, ValueError, ImportError) as err:   # Fabric's checks: no such device,
        # strategy, or an accelerator whose package is missing
        reason = str(err).strip().splitlines()[0]
        raise ConfigError(f"cannot run on --device {cfg.device} --devices {cfg.devices} "
                          f"--strategy {cfg.strategy}: {reason} Pick a device this machine has "
                          "(e.g. --device cpu) and a Fabric strategy name (auto, ddp).") from None
    if launch:
        launch_fabric(fabric, cfg)
    return fabric


def launch_fabric(fabric, cfg: RunConfig) -> None:
    """Start the other processes of a multi-process run (nothing to do for one process)."""
    if cfg.devices * cfg.num_nodes > 1:
        fabric.launch()


# Keys that may differ between a run and its continuation because they change speed or
# bookkeeping, not what is computed: where the folder is, the timeout, how many checkpoints stay
# on disk, how many processes decode images, torch.compile (the same maths, fused; the pretraining
# checkpoints accept the same keys). The device and process count are refused: they change the
# numbers (another backend's kernels, another split of each batch).
_RESUMABLE_KEYS = ("out", "dist_timeout_minutes", "pretrain.keep_checkpoints",
                   "pretrain.loader_workers", "pretrain.compile")
# Seeds and representations only add rows (every row names both), so the folder's config.yaml
# records the union of every invocation's.
_EXTENDABLE_KEYS = ("seeds", "representations")


def claim_out_dir(out: Path, cfg: RunConfig) -> RunConfig:
    """Check that ``out`` is empty or holds a run ``cfg`` may continue; the config to record.

    Raises ConfigError (before any work) when the folder's run differs in anything that changes
    numbers; fields added to RunConfig since that run compare at their defaults.
    """
    previous = out / "config.yaml"
    if not previous.exists():
        return cfg
    try:
        then = load_config(str(previous))
    except ConfigError as err:
        raise ConfigError(f"{out}/config.yaml is not a config this version reads ({err}); pass a "
                          "new --out, or delete the folder to start over") from None
    changed = config_diff(then, cfg, ignore=_RESUMABLE_KEYS + _EXTENDABLE_KEYS)
    if changed:
        raise ConfigError(f"{out} holds a run with a different config (differs in: "
                          f"{', '.join(changed)}); pass a new --out, or delete the folder to "
                          "start over")
    union = {key: tuple(dict.fromkeys(getattr(then, key) + getattr(cfg, key)))
             for key in _EXTENDABLE_KEYS}
    return dataclasses.replace(cfg, **union)


def _pending(cfg: RunConfig, done: set[tuple], metrics_done: set[tuple], seed: int) -> list[str]:
    points = grid_points(cfg.grid)
    return [rep for rep in cfg.representations
            if (rep, seed) not in metrics_done
            or any((rep, s, sev, seed) not in done for s, sev in points)]


@contextmanager
def open_run_dir(cfg: RunConfig, command: str) -> Iterator[Fabric]:
    """Hold ``cfg.out``'s write lock, claim it (``claim_out_dir``), start the processes and
    record config.yaml (rank 0); yields the launched Fabric, the lock held until the block ends."""
    fabric = make_fabric(cfg, launch=False)        # a device Fabric cannot use fails here
    with hold_folder(cfg.out, command):
        recorded = claim_out_dir(Path(cfg.out), cfg)
        launch_fabric(fabric, cfg)
        if fabric.global_rank == 0:
            atomic_write_text(Path(cfg.out) / "config.yaml", dump_yaml(recorded))
        yield fabric


def run(cfg: RunConfig, progress: bool = True) -> RunResult:
    """Run the whole grid of ``cfg`` into ``cfg.out``; returns the summary table."""
    splits = prepare_data(cfg)                       # validation of data before any work
    check_grid(cfg.grid, splits)
    with open_run_dir(cfg, "run") as fabric:
        return _run(cfg, splits, fabric, progress)


def _run(cfg: RunConfig, splits: Splits, fabric: Fabric, progress: bool) -> RunResult:
    started = time.perf_counter()
    out = Path(cfg.out)
    is_main = fabric.global_rank == 0
    throughput: dict[str, float] = {}
    phases = PhaseTimer()
    for seed in cfg.seeds:
        done = store.done_keys(read_jsonl(out / store.RESULTS))
        metrics_done = {(r["representation"], r["seed"]) for r in read_jsonl(out / store.METRICS)}
        pending = _pending(cfg, done, metrics_done, seed)
        if not pending:
            continue
        test_sets = None
        for objective in dict.fromkeys(REPRESENTATIONS.get(r).objective for r in pending):
            with phases("pretrain"):
                result = pretrain(splits.train.images, cfg.pretrain, objective, seed,
                                  out / "checkpoints" / f"{objective}-seed{seed}", fabric, progress)
            if not is_main:
                continue
            if result.images_per_second is not None:
                throughput[f"{objective}-seed{seed}"] = round(result.images_per_second, 1)
            with phases("features"):
                test_sets = test_sets or list(iter_test_sets(splits.test, cfg.grid, seed))
                encode = model_encoder(result.model.to(fabric.device), cfg.probe.features)
                raw = encode_feature_set(encode, splits, test_sets, fabric.device)
            for rep_name in pending:
                rep = REPRESENTATIONS.get(rep_name)
                if rep.objective == objective:
                    _evaluate(cfg, rep, raw, splits, seed, out, done, metrics_done, fabric.device,
                              phases)
    summary = store.write_summary(out) if is_main else None
    seconds = time.perf_counter() - started
    if is_main:
        info = _provenance(cfg, seconds, fabric.world_size)
        # Pretraining speed, kept across invocations (a resumed run pretrains only what is left).
        earlier = _read_run_json(out / "run.json")
        info["pretrain_images_per_second"] = {**earlier.get("pretrain_images_per_second", {}),
                                              **throughput}
        info["phase_seconds"] = phases.rounded()
        write_json(out / "run.json", info)
    return RunResult(out, summary, seconds)


def _evaluate(cfg: RunConfig, rep, raw: FeatureSet, splits: Splits, seed: int, out: Path,
              done: set[tuple], metrics_done: set[tuple], device: torch.device,
              phases: PhaseTimer) -> None:
    """Fit ``rep``'s map (on the CPU), measure, then train every scenario's probe on ``device``."""
    with phases("posthoc"):            # the SAE of cl+sae; nothing for cl and ncl
        fmap = rep.fit(raw.train, seed, out / "posthoc" / f"{rep.name}-seed{seed}", cfg)
    with phases("grid"):
        _measure_and_probe(cfg, rep, fmap, raw, splits, seed, out, done, metrics_done, device)


def _measure_and_probe(cfg: RunConfig, rep, fmap, raw: FeatureSet, splits: Splits, seed: int,
                       out: Path, done: set[tuple], metrics_done: set[tuple],
                       device: torch.device) -> None:
    """Monosemanticity of ``rep``'s clean test features, then every scenario's probe."""
    fs = FeatureSet(fmap(raw.train), raw.train_labels, fmap(raw.val), raw.val_labels,
                    {k: fmap(v) for k, v in raw.test.items()}, raw.test_labels)
    if (rep.name, seed) not in metrics_done:
        m = summarize(fs.test["clean"], fs.test_labels["clean"], splits.num_classes)
        append_jsonl(out / store.METRICS, [{"representation": rep.name, "seed": seed, **m._asdict()}])
        # Clean test features of every representation and seed, for the report's gallery.
        atomic_write_bytes(out / "features" / f"{rep.name}-seed{seed}-test.safetensors",
                           st_save({"features": fs.test["clean"].contiguous(),
                                    "labels": fs.test_labels["clean"].contiguous()}))
    skip = {(s, sev) for (r, s, sev, sd) in done if r == rep.name and sd == seed}
    for row in evaluate_features(rep.name, fs, cfg.grid, cfg.probe, splits.num_classes, seed, skip,
                                 device):
        append_jsonl(out / store.RESULTS, [row])


class PhaseTimer(dict):
    """Wall seconds per phase of a run, summed over seeds: ``with timer("grid"): ...``."""

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self[name] = self.get(name, 0.0) + time.perf_counter() - started

    def rounded(self) -> dict[str, float]:
        return {name: round(secs, 2) for name, secs in self.items()}


def _read_run_json(path: Path) -> dict:
    """An earlier invocation's run.json, or {} (with a warning when it is damaged: it holds
    provenance only, which this invocation writes anew)."""
    if not path.exists():
        return {}
    try:
        info = json.loads(path.read_bytes())
    except ValueError:
        info = None
    if not isinstance(info, dict):
        warnings.warn(f"{path} is damaged; writing it anew (earlier pretraining speeds are lost)",
                      IntegrityWarning, stacklevel=2)
        return {}
    return info


def _provenance(cfg: RunConfig, seconds: float, processes: int) -> dict:
    import importlib.metadata as md

    versions = {}
    for pkg in ("monorobust", "torch", "lightning", "numpy", "pandas", "safetensors"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    precision = resolve_precision(cfg.pretrain.precision, cfg.device)
    return {"seconds": seconds, "seeds": list(cfg.seeds), "versions": versions,
            "precision": precision.precision, "precision_configured": cfg.pretrain.precision,
            "precision_reason": precision.reason,
            "python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "processes": processes, "cpu_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
