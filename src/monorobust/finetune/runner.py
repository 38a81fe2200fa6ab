"""Fine-tuning experiment over a run folder: objectives x heads x settings x seeds.

For every seed and objective, the run's latest pretraining checkpoint is loaded (pretrained
first if missing). Each (head, setting) fine-tunes a fresh copy and appends one row to
``RUN/finetune.jsonl`` (atomically; a rerun skips finished rows). Rows hold the per-epoch
history (train / validation accuracy), the selected epoch and the test accuracy.
"""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
import torch

from monorobust.config import RunConfig
from monorobust.data import Splits, stratified_split
from monorobust.finetune.config import FinetuneConfig
from monorobust.finetune.loop import finetune
from monorobust.rows import RowFile, format_table as render, mean_std_cell, run_grid, summarise
from monorobust.rundir import FinetuneRow, RunDir
from monorobust.seeding import derive_seed


def subset(labels: torch.Tensor, size: int | None) -> torch.Tensor:
    """Indices of a stratified subset of ``size`` (all when None or larger), fixed seed 0."""
    if size is None or size >= len(labels):
        return torch.arange(len(labels))
    _, keep = stratified_split(labels, size / len(labels), seed=0)
    return keep


def setting_data(splits: Splits, scenario: str, severity: float, cfg: FinetuneConfig, seed: int):
    """(train_x, train_y, train_true, val_x, val_y, realised_noise) of one setting."""
    from monorobust.evaluate.scenarios import SCENARIOS

    tr = subset(splits.train.labels, cfg.train_size)
    va = subset(splits.val.labels, cfg.val_size)
    train_y, val_y = splits.train.labels[tr], splits.val.labels[va]
    gen = torch.Generator().manual_seed(derive_seed(seed, "finetune", scenario, severity))
    ts = SCENARIOS.get(scenario).train_set(train_y, val_y, severity, splits.num_classes, gen)
    tr_sel, va_sel = tr[ts.train_idx], va[ts.val_idx]
    return (splits.train.images[tr_sel], ts.train_labels, splits.train.labels[tr_sel],
            splits.val.images[va_sel], ts.val_labels, ts.realised_noise_rate)


def check_settings(cfg: FinetuneConfig, splits: Splits) -> None:
    """Noise rates and k against the data, before any work."""
    from monorobust.errors import ConfigError
    from monorobust.perturb import check_label_noise_rate

    for r in cfg.label_noise:
        if r > 0:
            check_label_noise_rate(r, splits.num_classes)
    tr = subset(splits.train.labels, cfg.train_size)
    smallest = int(torch.bincount(splits.train.labels[tr], minlength=splits.num_classes).min())
    for k in cfg.few_shot:
        if k > smallest:
            raise ConfigError(f"finetune.few_shot k={k} exceeds the smallest class of the "
                              f"fine-tuning subset ({smallest}); lower k or raise train_size")


# Keys that only choose which cells run: every row names its objective, head and setting, so the
# rows of other choices share the file without mixing.
_CELL_KEYS = tuple(f"{FinetuneConfig.SECTION}.{k}"
                   for k in ("objectives", "heads", "label_noise", "few_shot", "clean"))


def check_recorded_config(rows: RowFile[FinetuneRow], cfg: FinetuneConfig) -> None:
    """ConfigError, before any work, when ``rows`` were fine-tuned under settings that give other
    numbers (as ``RunDir.claim`` refuses a run's; fields added since compare at their defaults)."""
    from monorobust.errors import ConfigError
    from monorobust.fields import build_dataclass, config_diff

    fix = f"pass a new --out, or delete {rows.path} to fine-tune the same encoders again"
    for row in rows.rows():
        if row.config is None:
            raise ConfigError(f"{rows.path} holds rows with no recorded config, so they cannot be "
                              f"checked against these settings; {fix}")
        try:
            then = build_dataclass(FinetuneConfig, row.config, FinetuneConfig.SECTION)
        except ConfigError as err:
            raise ConfigError(f"{rows.path} holds rows of a config this version does not read "
                              f"({err}); {fix}") from None
        changed = config_diff(then, cfg, ignore=_CELL_KEYS, prefix=f"{FinetuneConfig.SECTION}.")
        if changed:
            raise ConfigError(f"{rows.path} holds fine-tuning rows with a different config "
                              f"(differs in: {', '.join(changed)}); {fix}")


def run_finetune(run: RunConfig, cfg: FinetuneConfig, progress: bool = True) -> pd.DataFrame:
    """Fine-tune every (objective, head, setting, seed) not yet in ``RUN/finetune.jsonl``.

    The folder is claimed as ``monorobust run`` claims it (its config.yaml must match, or is
    written): the encoders it pretrains or reuses are that run's."""
    from monorobust.data.prepare import prepare_splits
    from monorobust.experiment import check_pretraining_data, claim_out_dir

    folder = RunDir(run.out)
    splits = prepare_splits(run.data)
    check_settings(cfg, splits)
    check_pretraining_data(run, splits)
    rows = RowFile(folder / RunDir.FINETUNE, FinetuneRow)
    cells = [(o, h, s, sev, seed) for seed in run.seeds for o in cfg.objectives
             for s, sev in cfg.points() for h in cfg.heads]
    claim_out_dir(folder.root, run)         # before the lock goes into a folder that is no run's
    with folder.hold("finetune"):
        recorded = claim_out_dir(folder.root, run)
        check_recorded_config(rows, cfg)
        folder.write_config(recorded)
        run_grid(rows, cells, lambda todo: _finetune_cells(run, cfg, splits, folder, todo, progress))
    return summarize(rows.rows(), cfg)


def _finetune_cells(run: RunConfig, cfg: FinetuneConfig, splits, folder: RunDir, todo: list[tuple],
                    progress: bool):
    """The rows of ``todo``: one loaded (or pretrained) encoder per seed and objective."""
    from monorobust.experiment import make_fabric
    from monorobust.train import pretrain
    from monorobust.train.parallel import PretrainJob, pretrain_side_by_side, side_by_side

    needed = [(o, seed) for seed in run.seeds for o in cfg.objectives
              if any(k[0] == o and k[4] == seed for k in todo)]
    fabric = make_fabric(run) if needed else None
    if needed and side_by_side(run.pretrain, fabric):
        # As `monorobust run` pretrains (the same threads, so the same encoders); the loop
        # below then loads them from their last checkpoints.
        pretrain_side_by_side(splits.train.images, run.pretrain,
                              [PretrainJob(o, seed, folder.checkpoints(o, seed))
                               for o, seed in needed], progress)
    for seed in run.seeds:
        for objective in cfg.objectives:
            mine = [k for k in todo if k[0] == objective and k[4] == seed]
            if not mine:
                continue
            enc = pretrain(splits.train.images, run.pretrain, objective, seed,
                           folder.checkpoints(objective, seed), fabric, progress).model.cpu().eval()
            if fabric is not None and fabric.global_rank != 0:
                continue        # the other processes join the pretraining; rank 0 fine-tunes
            for _, head, scenario, severity, _ in mine:
                tx, ty, ttrue, vx, vy, realised = setting_data(splits, scenario, severity, cfg, seed)
                if progress:
                    print(f"finetune {objective} {head} {scenario}@{severity:g} seed {seed}", flush=True)
                res = finetune(enc, head, tx, ty, ttrue, vx, vy, splits.test.images,
                               splits.test.labels, splits.num_classes, cfg, seed)
                best, last = res.history[res.best_epoch - 1], res.history[-1]
                yield FinetuneRow(
                    objective, head, scenario, severity, seed, res.test_accuracy, res.best_epoch,
                    best.train_accuracy, best.train_accuracy_clean, best.val_accuracy,
                    last.train_accuracy, last.val_accuracy, realised, len(ty), len(vy),
                    res.test_nonneg_share, res.seconds, tuple(r._asdict() for r in res.history),
                    asdict(cfg))


METRICS = ("test_accuracy", "train_accuracy", "val_accuracy", "final_train_accuracy",
           "final_val_accuracy", "best_epoch")


def summarize(rows: list[FinetuneRow], cfg: FinetuneConfig | None = None) -> pd.DataFrame:
    """Mean and std over seeds (``rows.summarise``) of test / train / val accuracy and the
    selected epoch per setting x objective x head (those of ``cfg`` when given)."""
    if cfg is not None:
        keep = {(o, h, s, sev) for o in cfg.objectives for h in cfg.heads for s, sev in cfg.points()}
        rows = [r for r in rows if r.key()[:4] in keep]
    return summarise(rows, ("scenario", "severity", "objective", "head"), METRICS)


def format_table(summary: pd.DataFrame) -> str:
    """One line per setting x objective x head: test (± std), train and val at the kept epoch,
    train and val after the last epoch, and the overfitting gap (final train - final val)."""
    if summary.empty:
        return "(no fine-tuning results yet)"
    header = ["setting", "init", "head", "test", "train@sel", "val@sel", "train@last",
              "val@last", "gap@last", "epoch", "n"]
    body = []
    for r in summary.itertuples():
        gap = r.final_train_accuracy_mean - r.final_val_accuracy_mean
        body.append([r.scenario if r.scenario == "clean" else f"{r.scenario}@{r.severity:g}",
                     r.objective, r.head, mean_std_cell(r.test_accuracy_mean, r.test_accuracy_std)]
                    + [mean_std_cell(getattr(r, f"{m}_mean"), None) for m in METRICS[1:5]]
                    + [mean_std_cell(gap, None), f"{r.best_epoch_mean:.1f}", str(r.n)])
    return render(header, body, left=3)
