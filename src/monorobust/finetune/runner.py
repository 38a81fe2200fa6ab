"""Fine-tuning experiment over a run folder: objectives x heads x settings x seeds.

For every seed and objective, the run's latest pretraining checkpoint is loaded (pretrained
first if missing). Each (head, setting) fine-tunes a fresh copy and appends one row to
``RUN/finetune.jsonl`` (atomically; a rerun skips finished rows). Rows hold the per-epoch
history (train / validation accuracy), the selected epoch and the test accuracy.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from monorobust.config import RunConfig
from monorobust.data import Splits, stratified_split
from monorobust.finetune.config import FinetuneConfig
from monorobust.finetune.loop import finetune
from monorobust.io import append_jsonl, read_jsonl
from monorobust.lock import hold_folder

ROWS = "finetune.jsonl"


def point_seed(seed: int, scenario: str, severity: float) -> int:
    """A generator seed that depends only on its arguments (not on Python's salted hash)."""
    return zlib.crc32(f"finetune|{seed}|{scenario}|{severity:g}".encode()) + seed * 2**32


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
    gen = torch.Generator().manual_seed(point_seed(seed, scenario, severity))
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


def run_finetune(run: RunConfig, cfg: FinetuneConfig, progress: bool = True) -> pd.DataFrame:
    """Fine-tune every (objective, head, setting, seed) not yet in ``RUN/finetune.jsonl``."""
    from monorobust.data.prepare import prepare_splits

    out = Path(run.out)
    splits = prepare_splits(run.data)
    check_settings(cfg, splits)
    with hold_folder(out, "finetune"):
        _finetune_all(run, cfg, splits, out, progress)
    return summarize(read_jsonl(out / ROWS), cfg)


def _finetune_all(run: RunConfig, cfg: FinetuneConfig, splits, out: Path, progress: bool) -> None:
    from monorobust.experiment import make_fabric
    from monorobust.train import pretrain

    fabric = None
    for seed in run.seeds:
        for objective in cfg.objectives:
            done = {_key(r) for r in read_jsonl(out / ROWS)}
            todo = [(h, s, sev) for s, sev in cfg.points() for h in cfg.heads
                    if (objective, h, s, sev, seed) not in done]
            if not todo:
                continue
            fabric = fabric or make_fabric(run)
            enc = pretrain(splits.train.images, run.pretrain, objective, seed,
                           out / "checkpoints" / f"{objective}-seed{seed}", fabric, progress).model
            enc = enc.cpu().eval()
            for head, scenario, severity in todo:
                tx, ty, ttrue, vx, vy, realised = setting_data(splits, scenario, severity, cfg, seed)
                if progress:
                    print(f"finetune {objective} {head} {scenario}@{severity:g} seed {seed}", flush=True)
                res = finetune(enc, head, tx, ty, ttrue, vx, vy, splits.test.images,
                               splits.test.labels, splits.num_classes, cfg, seed)
                best = res.history[res.best_epoch - 1]
                append_jsonl(out / ROWS, [{
                    "objective": objective, "head": head, "scenario": scenario,
                    "severity": severity, "seed": seed, "test_accuracy": res.test_accuracy,
                    "best_epoch": res.best_epoch, "train_accuracy": best.train_accuracy,
                    "train_accuracy_clean": best.train_accuracy_clean,
                    "val_accuracy": best.val_accuracy,
                    "final_train_accuracy": res.history[-1].train_accuracy,
                    "final_val_accuracy": res.history[-1].val_accuracy,
                    "realised_noise_rate": realised, "n_train": len(ty), "n_val": len(vy),
                    "nonneg_share": res.test_nonneg_share, "seconds": res.seconds,
                    "history": [r._asdict() for r in res.history], "config": asdict(cfg)}])


def _key(r: dict[str, Any]) -> tuple:
    return (r["objective"], r["head"], r["scenario"], float(r["severity"]), int(r["seed"]))


def summarize(rows: list[dict[str, Any]], cfg: FinetuneConfig | None = None) -> pd.DataFrame:
    """Mean (and std over seeds) of test / train / val accuracy per objective x head x setting."""
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    if cfg is not None:
        keep = {(o, h, s, sev) for o in cfg.objectives for h in cfg.heads for s, sev in cfg.points()}
        df = df[[k in keep for k in zip(df["objective"], df["head"], df["scenario"],
                                        df["severity"].astype(float))]]
    cols = ["test_accuracy", "train_accuracy", "val_accuracy", "final_train_accuracy",
            "final_val_accuracy", "best_epoch"]
    g = df.groupby(["scenario", "severity", "objective", "head"], sort=False)
    out = g[cols].mean()
    out["test_std"] = g["test_accuracy"].std()
    out["n"] = g["seed"].count()
    return out.reset_index()


def format_table(summary: pd.DataFrame) -> str:
    """One line per setting x objective x head: test (± std), train and val at the kept epoch,
    train and val after the last epoch, and the overfitting gap (final train - final val)."""
    if summary.empty:
        return "(no fine-tuning results yet)"
    head = (f"{'setting':16} {'init':4} {'head':8} {'test':>12} {'train@sel':>9} {'val@sel':>8} "
            f"{'train@last':>10} {'val@last':>8} {'gap@last':>8} {'epoch':>5} {'n':>2}")
    lines = [head, "-" * len(head)]
    for r in summary.itertuples():
        std = "" if pd.isna(r.test_std) else f" ± {100 * r.test_std:.1f}"
        setting = "clean" if r.scenario == "clean" else f"{r.scenario}@{r.severity:g}"
        lines.append(f"{setting:16} {r.objective:4} {r.head:8} {100 * r.test_accuracy:5.1f}{std:>7} "
                     f"{100 * r.train_accuracy:9.1f} {100 * r.val_accuracy:8.1f} "
                     f"{100 * r.final_train_accuracy:10.1f} {100 * r.final_val_accuracy:8.1f} "
                     f"{100 * (r.final_train_accuracy - r.final_val_accuracy):8.1f} "
                     f"{r.best_epoch:5.1f} {r.n:2d}")
    return "\n".join(lines)
