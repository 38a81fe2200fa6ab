"""The results store of a run folder: rows in, summary and table out.

A run folder holds:

- ``config.yaml``: the resolved ``RunConfig``.
- ``results.jsonl``: one row per representation x scenario x severity x seed with keys
  representation, scenario, severity, severity_name, seed, accuracy (clean or perturbed test
  split, 0-1), realised_noise_rate, per_class_accuracy (list of C), train_accuracy and
  val_accuracy (on the labels the probe saw, possibly noisy), best_step, n_train, n_test.
- ``metrics.jsonl``: one row per representation x seed: ``metrics.FeatureMetrics`` fields on the
  clean test features.
- ``summary.csv``: representation, scenario, severity, mean, std, n, realised_noise_rate.
- ``features/REP-seedS-test.safetensors``: clean test features ("features", (N, D)) and
  "labels" of each representation and seed, in the order of ``experiment.prepare_data(cfg).test``.
- ``checkpoints/OBJECTIVE-seedS/epoch-XXXX.safetensors``: pretraining checkpoints.
- ``run.json``: wall time, versions, hardware.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from monorobust.io import atomic_write_text, read_jsonl

RESULTS = "results.jsonl"
METRICS = "metrics.jsonl"
SUMMARY = "summary.csv"
KEY = ("representation", "scenario", "severity", "seed")


def load_results(run_dir: str | Path) -> pd.DataFrame:
    rows = read_jsonl(Path(run_dir) / RESULTS)
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else list(KEY) + ["accuracy"])


def load_metrics(run_dir: str | Path) -> pd.DataFrame:
    return pd.DataFrame(read_jsonl(Path(run_dir) / METRICS))


def done_keys(rows: list[dict[str, Any]]) -> set[tuple]:
    return {(r["representation"], r["scenario"], float(r["severity"]), int(r["seed"])) for r in rows}


def summarize_results(results: pd.DataFrame) -> pd.DataFrame:
    """Mean, std (over seeds, ddof=1; NaN for one seed) and n of accuracy per grid point."""
    if results.empty:
        return pd.DataFrame(columns=["representation", "scenario", "severity", "mean", "std", "n",
                                     "realised_noise_rate"])
    g = results.groupby(["representation", "scenario", "severity"], sort=False)
    out = g["accuracy"].agg(["mean", "std", "count"]).rename(columns={"count": "n"})
    out["realised_noise_rate"] = g["realised_noise_rate"].mean()
    return out.reset_index()


def write_summary(run_dir: str | Path) -> pd.DataFrame:
    summary = summarize_results(load_results(run_dir))
    atomic_write_text(Path(run_dir) / SUMMARY, summary.to_csv(index=False))
    return summary


def format_table(summary: pd.DataFrame, order: list[str] | None = None) -> str:
    """Scenario x severity rows, one column per representation, cells ``mean ± std`` in %."""
    if summary.empty:
        return "(no results yet)"
    reps = order or list(dict.fromkeys(summary["representation"]))
    points = list(dict.fromkeys(zip(summary["scenario"], summary["severity"])))
    cell = {(r.representation, r.scenario, r.severity): r for r in summary.itertuples()}
    header = ["scenario", "severity"] + reps
    lines = []
    for scen, sev in points:
        row = [scen, f"{sev:g}"]
        for rep in reps:
            r = cell.get((rep, scen, sev))
            if r is None:
                row.append("-")
            else:
                std = "" if pd.isna(r.std) else f" ± {100 * r.std:.1f}"
                row.append(f"{100 * r.mean:.1f}{std}")
        lines.append(row)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    fmt = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
    out = [fmt.format(*header), fmt.format(*["-" * w for w in widths])]
    out += [fmt.format(*row) for row in lines]
    return "\n".join(out)
