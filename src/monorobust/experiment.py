"""``monorobust run``: pretrain every representation, run the robustness grid, summarise.

For every seed: pretrain one encoder per objective the chosen representations need (resuming
from checkpoints; with ``pretrain.processes`` > 1 on the CPU, every pending pretraining first,
that many side by side), extract its features once per test set, map them to each
representation, measure monosemanticity, then run every scenario x severity. Each result row is appended
atomically as soon as it exists; rerunning the same command skips finished rows and resumes
pretraining from the last checkpoint.
"""

from __future__ import annotations

import platform
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import torch
from tqdm.auto import tqdm

from monorobust.config import RunConfig
from monorobust.data import Splits
from monorobust.data.prepare import prepare_splits
from monorobust.errors import ConfigError
from monorobust.evaluate import (
    REPRESENTATIONS, FeatureSet, check_grid, encode_feature_set, evaluate_features, model_encoder,
)
from monorobust.evaluate.api import corruption_calibration
from monorobust.evaluate.grid import grid_cells, run_order, skip_done
from monorobust.evaluate.scenarios import SCENARIOS
from monorobust.evaluate.testsets import iter_test_sets
from monorobust.io import IntegrityWarning
from monorobust.metrics import summarize
from monorobust.rows import run_grid
from monorobust.rundir import ResultRow, RunDir
from monorobust.train import PretrainResult, pretrain
from monorobust.train.parallel import PretrainJob, pretrain_side_by_side, side_by_side, threads_each
from monorobust.train.precision import accelerator_type, resolve_precision
from monorobust.train.pretrain import (RESUMABLE_CHANGES, check_batch_fits, check_model_fits,
                                       check_sync_batchnorm, feature_width, meta_model)

if TYPE_CHECKING:
    from lightning_fabric import Fabric


class RunResult(NamedTuple):
    out: Path
    summary: "object"
    seconds: float


def make_fabric(cfg: RunConfig, launch: bool = True):
    """Lightning Fabric for ``cfg``'s devices; with several processes, launched unless ``launch``
    is False (then the caller calls ``launch_fabric``)."""
    from datetime import timedelta

    from lightning_fabric import Fabric
    from lightning_fabric.strategies import DDPStrategy

    many = cfg.devices * cfg.num_nodes > 1
    check_sync_batchnorm(cfg.pretrain, cfg.devices * cfg.num_nodes, accelerator_type(cfg.device))
    strategy = cfg.strategy
    if many and strategy in ("auto", "ddp"):     # what "auto" picks for several processes
        # torch < 2.13: DDP's buffer broadcast before the second view's forward bumps the
        # BatchNorm buffers' version and breaks backward ("modified by an inplace operation";
        # seen with 2.11). Rank 0, the broadcast's source, which saves and evaluates, computes
        # the same numbers without it (checked on 2.13: identical rows and checkpoints).
        legacy = {"broadcast_buffers": False} if torch.__version__ < "2.13" else {}
        strategy = DDPStrategy(timeout=timedelta(minutes=cfg.dist_timeout_minutes), **legacy)
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
_RESUMABLE_KEYS = ("out", "dist_timeout_minutes",
                   *(f"pretrain.{key}" for key in RESUMABLE_CHANGES))
# Seeds and representations only add rows (every row names both), so the folder's config.yaml
# records the union of every invocation's.
_EXTENDABLE_KEYS = ("seeds", "representations")


def claim_out_dir(out: Path, cfg: RunConfig) -> RunConfig:
    """Check that ``out`` is empty or holds a run ``cfg`` may continue; the config to record.

    Raises ConfigError (before any work) when the folder's run differs in anything that changes
    numbers, or was drawn by another results format; fields added to RunConfig since that run
    compare at their defaults.
    """
    return RunDir(out).claim(cfg, ignore=_RESUMABLE_KEYS, extend=_EXTENDABLE_KEYS)


@contextmanager
def open_run_dir(cfg: RunConfig, command: str) -> Iterator[Fabric]:
    """Hold ``cfg.out``'s write lock, claim it (``claim_out_dir``), start the processes and
    record config.yaml (rank 0); yields the launched Fabric, the lock held until the block ends."""
    fabric = make_fabric(cfg, launch=False)        # a device Fabric cannot use fails here
    claim_out_dir(Path(cfg.out), cfg)              # before the lock file goes into a folder that
    with RunDir(cfg.out).hold(command) as run_dir:  # is no run's; again once it is held
        recorded = claim_out_dir(run_dir.root, cfg)
        launch_fabric(fabric, cfg)
        if fabric.global_rank == 0:
            run_dir.write_config(recorded)
        yield fabric


def check_pretraining_data(cfg: RunConfig, splits: Splits) -> None:
    """Before a folder is claimed: pretraining's one batch per process must fit in the training
    split (refused inside pretraining, it came after config.yaml was written, and that record
    then refused the corrected command). A frozen hf: backbone pretrains nothing."""
    if not cfg.pretrain.encoder.startswith("hf:"):
        check_batch_fits(cfg.pretrain, len(splits.train.images), cfg.devices * cfg.num_nodes)


def check_memory(cfg: RunConfig, splits: Splits) -> None:
    """Before a folder is claimed: sizes whose training could not fit in the device's memory
    at all (the pretraining model's, and the SAE's where a representation fits one) are
    refused. Out of memory later, the SAE would fail after the pretraining, and the folder
    would then refuse the corrected size. A frozen hf: backbone is not checked."""
    if cfg.pretrain.encoder.startswith("hf:"):
        return
    device = accelerator_type(cfg.device)
    model = check_model_fits(cfg.pretrain, tuple(splits.train.images.shape[1:]), device)
    fitting = [name for name in cfg.representations if REPRESENTATIONS.get(name).fits_sae]
    if fitting:
        check_sae_fits(cfg, cfg.sae, splits, device, " and ".join(fitting), model)


def check_sae_fits(cfg: RunConfig, sae, splits: Splits, device: str, what: str,
                   model=None) -> None:
    """ConfigError before any work where ``sae`` (an ``SAEConfig``) on the features of
    ``cfg``'s encoder (``model``, else its meta model) could not train in ``device``'s memory;
    ``what`` names the features in the message."""
    model = model or meta_model(cfg.pretrain, tuple(splits.train.images.shape[1:]))
    sae.check_fits(feature_width(cfg.pretrain, model, cfg.probe.features),
                   len(splits.train.images), device, what)


def run(cfg: RunConfig, progress: bool = True) -> RunResult:
    """Run the whole grid of ``cfg`` into ``cfg.out``; returns the summary table."""
    splits = prepare_splits(cfg.data)                # validation of data before any work
    check_grid(cfg.grid, splits)
    check_pretraining_data(cfg, splits)
    check_memory(cfg, splits)
    for name in cfg.grid.scenarios:                  # side data (CIFAR-N labels) before any work
        if SCENARIOS.get(name).needs_data:
            SCENARIOS.get(name).check_data(cfg.data)
    with open_run_dir(cfg, "run") as fabric:
        return _run(cfg, splits, fabric, progress)


def _run(cfg: RunConfig, splits: Splits, fabric: Fabric, progress: bool) -> RunResult:
    started = time.perf_counter()
    run_dir = RunDir(cfg.out)
    is_main = fabric.global_rank == 0
    throughput: dict[str, float] = {}          # images/s of each encoder pretrained here
    steady: dict[str, float] = {}              # the same after its first epoch
    phases = PhaseTimer()
    together = side_by_side(cfg.pretrain, fabric)   # pretrainings in worker processes

    def compute(todo: list[tuple]) -> Iterator[ResultRow]:
        """Rows of ``todo``, seed by seed: one pretraining and one feature extraction per
        objective serve every representation built on it."""
        metrics_done = run_dir.metrics_done()
        bar = tqdm(total=len(todo), desc="robustness grid", unit="row",
                   disable=not progress or not is_main)

        def pending(seed: int) -> list[str]:
            return [rep for rep in cfg.representations if (rep, seed) not in metrics_done
                    or any(k[0] == rep and k[3] == seed for k in todo)]

        def objectives(seed: int) -> list[str]:
            return _objectives(pending(seed))

        pretrained: dict[tuple[str, int], PretrainResult] = {}
        if together:
            # Every pending pretraining first, cfg.pretrain.processes at a time.
            jobs = [PretrainJob(objective, seed, run_dir.checkpoints(objective, seed))
                    for seed in cfg.seeds for objective in objectives(seed)
                    if objective != "frozen"]
            with phases("pretrain"):
                results = pretrain_side_by_side(splits.train.images, cfg.pretrain, jobs, progress)
            pretrained = {(job.objective, job.seed): r for job, r in zip(jobs, results)}
        for seed in cfg.seeds:
            test_sets = None
            for objective in objectives(seed):
                views = None
                if objective == "frozen":
                    # A frozen pretrained backbone (pretrain.encoder hf:..., issue 14): nothing
                    # to pretrain; its raw features (cached once per run, test sets per seed) and
                    # the augmented training views the frozen+cl/ncl heads train on.
                    if not is_main:
                        continue
                    from monorobust.evaluate.frozen import frozen_features

                    with phases("features"):
                        raw, views = frozen_features(
                            cfg.pretrain.encoder, cfg.data, cfg.pretrain.augment, splits, seed,
                            lambda: list(iter_test_sets(splits.test, cfg.grid, seed)),
                            run_dir.root, fabric.device)
                    yield from _evaluate_objective(cfg, objective, pending(seed), raw, views,
                                                   splits, seed, run_dir, todo, metrics_done,
                                                   fabric, phases, bar)
                    continue
                result = pretrained.pop((objective, seed), None)
                if result is None:
                    with phases("pretrain"):
                        result = pretrain(splits.train.images, cfg.pretrain, objective, seed,
                                          run_dir.checkpoints(objective, seed), fabric, progress)
                if not is_main:
                    continue
                for rates, rate in ((throughput, result.images_per_second),
                                    (steady, result.steady_images_per_second)):
                    if rate is not None:
                        rates[f"{objective}-seed{seed}"] = round(rate, 1)
                with phases("features"):
                    test_sets = test_sets or list(iter_test_sets(splits.test, cfg.grid, seed))
                    encode = model_encoder(result.model.to(fabric.device), cfg.probe.features)
                    with fabric.autocast():      # pretraining's precision (bf16 where native)
                        raw = encode_feature_set(encode, splits, test_sets, fabric.device)
                yield from _evaluate_objective(cfg, objective, pending(seed), raw, views, splits,
                                               seed, run_dir, todo, metrics_done, fabric, phases,
                                               bar)
        bar.close()

    run_grid(run_dir.results, grid_cells(cfg.representations, cfg.grid, cfg.seeds), compute)
    summary = _write_summary(run_dir) if is_main else None
    seconds = time.perf_counter() - started
    if is_main:
        info = _provenance(cfg, seconds, fabric.world_size)
        # Pretraining speed, kept across invocations (a resumed run pretrains only what is left).
        earlier = _read_run_json(run_dir)
        for key, rates in (("pretrain_images_per_second", throughput),
                           ("pretrain_steady_images_per_second", steady)):
            info[key] = {**earlier.get(key, {}), **rates}
        if "corrupt" in cfg.grid.scenarios:     # "auto" resolved: whose tables the rows used
            info["corruption_calibration"] = corruption_calibration(cfg.grid, splits)
        info["phase_seconds"] = phases.rounded()
        info["pretrain_processes"] = cfg.pretrain.processes if together else 1
        info["pretrain_threads"] = threads_each(cfg.pretrain) if together else torch.get_num_threads()
        run_dir.write_run_info(info)
    return RunResult(run_dir.root, summary, seconds)


def _write_summary(run_dir: RunDir):
    """summary.csv over the rows of every invocation (config.yaml records the union of their
    seeds and representations), in the order an uninterrupted run computes them, whatever order
    they were appended in: seed, then representations grouped by objective, then grid point."""
    recorded = run_dir.read_config(RunConfig)
    return run_dir.write_summary(run_order(recorded.representations, recorded.grid,
                                           recorded.seeds))


def _objectives(representations) -> list[str]:
    """The objectives ``representations`` are built on, in the order a run pretrains them."""
    return list(dict.fromkeys(REPRESENTATIONS.get(r).objective for r in representations))


def _evaluate_objective(cfg: RunConfig, objective: str, pending: list[str], raw: FeatureSet,
                        views, splits: Splits, seed: int, run_dir: RunDir, todo: list[tuple],
                        metrics_done: set, fabric: Fabric, phases: PhaseTimer,
                        bar) -> Iterator[ResultRow]:
    """The rows of every pending representation built on ``objective``'s raw features."""
    for rep_name in pending:
        rep = REPRESENTATIONS.get(rep_name)
        if rep.objective == objective:
            for row in _evaluate(cfg, rep, raw, splits, seed, run_dir, todo,
                                 (rep.name, seed) not in metrics_done, fabric.device, phases,
                                 views):
                bar.update(1)
                yield row


def _evaluate(cfg: RunConfig, rep, raw: FeatureSet, splits: Splits, seed: int, run_dir: RunDir,
              todo: list[tuple], measure: bool, device: torch.device,
              phases: PhaseTimer, views: torch.Tensor | None = None) -> Iterator[ResultRow]:
    """Fit ``rep``'s map (its SAE on ``device``), measure it when ``measure``, then train the
    probe of every scenario of ``todo`` on ``device``. ``views``: the frozen backbone's augmented
    training features, passed to the representations of a frozen backbone only."""
    extra = {} if views is None else {"views": views}
    with phases("posthoc"):            # the SAE of cl+sae / frozen+sae, the frozen+cl/ncl heads
        fmap = rep.fit(raw.train, seed, run_dir.posthoc(rep.name, seed), cfg, device, **extra)
    fs = FeatureSet(fmap(raw.train), raw.train_labels, fmap(raw.val), raw.val_labels,
                    {k: fmap(v) for k, v in raw.test.items()}, raw.test_labels, cfg.data)
    with phases("grid"):
        if measure:
            m = summarize(fs.test["clean"], fs.test_labels["clean"], splits.num_classes)
            run_dir.append_metrics(rep.name, seed, m)
            # Clean test features of every representation and seed, for the report's gallery.
            run_dir.save_features(rep.name, seed, fs.test["clean"], fs.test_labels["clean"])
    rows = evaluate_features(rep.name, fs, cfg.grid, cfg.probe, splits.num_classes, seed,
                             skip_done(cfg.grid, todo, rep.name, seed), device)
    while True:                        # timed per row: the caller appends between them
        with phases("grid"):
            row = next(rows, None)
        if row is None:
            return
        yield row


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


def _read_run_json(run_dir: RunDir) -> dict:
    """An earlier invocation's run.json, or {} (with a warning when it is damaged: it holds
    provenance only, which this invocation writes anew)."""
    try:
        return run_dir.read_run_info() or {}
    except ValueError:
        warnings.warn(f"{run_dir / RunDir.RUN_INFO} is damaged; writing it anew (earlier "
                      "pretraining speeds are lost)", IntegrityWarning, stacklevel=2)
        return {}


def _provenance(cfg: RunConfig, seconds: float, processes: int) -> dict:
    import importlib.metadata as md

    versions = {}
    for pkg in ("monorobust", "torch", "lightning-fabric", "numpy", "pandas", "safetensors"):
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
