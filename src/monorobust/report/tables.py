"""Tables of the report as DataFrames, and their Markdown / HTML rendering.

Pure functions: result / metrics / fine-tuning rows in, DataFrames or strings out. Cells that
aggregate seeds read ``mean ± std`` (std over seeds, ddof=1; no ``±`` with one seed).
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

METRIC_COLUMNS = {
    "semantic_consistency": "semantic consistency",
    "topk_purity": "top-k purity",
    "sparsity": "sparsity",
    "active_dims": "active dims",
    "dead_dims": "dead dims",
    "effective_rank": "effective rank",
    "mean_abs_correlation": "mean |corr|",
    "dims": "dims",
}


def mean_std(values: pd.Series, scale: float = 1.0, digits: int = 3) -> str:
    """``mean ± std`` of ``values`` (just the mean for one value; "-" for none)."""
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy() * scale
    if len(v) == 0:
        return "-"
    if len(v) == 1:
        return f"{v[0]:.{digits}f}"
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}"


def accuracy_table(summary: pd.DataFrame, reps: list[str], labels: dict[str, str]) -> pd.DataFrame:
    """Scenario x severity rows, one ``mean ± std`` (%) column per representation, plus n."""
    rows = []
    for (scen, sev), g in summary.groupby(["scenario", "severity"], sort=False):
        row: dict[str, Any] = {"scenario": scen, "severity": f"{sev:g}"}
        for rep in reps:
            r = g[g.representation == rep]
            if r.empty:
                row[labels[rep]] = "-"
                continue
            r = r.iloc[0]
            std = "" if pd.isna(r["std"]) else f" ± {100 * r['std']:.1f}"
            row[labels[rep]] = f"{100 * r['mean']:.1f}{std}"
        row["seeds"] = int(g["n"].max())
        rows.append(row)
    return pd.DataFrame(rows)


def metrics_table(metrics: pd.DataFrame, reps: list[str], labels: dict[str, str]) -> pd.DataFrame:
    """One row per representation: every monosemanticity metric as mean ± std over seeds."""
    if metrics.empty:
        return pd.DataFrame()
    cols = [c for c in METRIC_COLUMNS if c in metrics]
    cols += [c for c in metrics.columns if c not in cols and c not in ("representation", "seed")
             and pd.api.types.is_numeric_dtype(metrics[c])]
    rows = []
    for rep in reps:
        g = metrics[metrics.representation == rep]
        if g.empty:
            continue
        row = {"representation": labels[rep], "seeds": len(g)}
        for c in cols:
            digits = 1 if c in ("active_dims", "dead_dims", "dims", "effective_rank") else 3
            row[METRIC_COLUMNS.get(c, c)] = mean_std(g[c], digits=digits)
        rows.append(row)
    return pd.DataFrame(rows)


def finetune_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Fine-tuning rows (finetune.jsonl) per setting x init x head: test accuracy (mean ± std,
    %), and train / validation accuracy (%) at the last epoch, whose gap shows overfitting."""
    need = {"objective", "head", "scenario", "severity", "seed", "test_accuracy"}
    if rows.empty or not need <= set(rows.columns):
        return pd.DataFrame()
    out = []
    for (scen, sev, obj, head), g in rows.groupby(["scenario", "severity", "objective", "head"],
                                                    sort=False):
        row = {"setting": "clean" if scen == "clean" else f"{scen}@{sev:g}", "init": obj,
               "head": head, "test %": mean_std(g.test_accuracy, 100, 1)}
        for col, name in (("final_train_accuracy", "train % (last)"),
                          ("final_val_accuracy", "val % (last)")):
            row[name] = mean_std(g[col], 100, 1) if col in g else "-"
        if {"final_train_accuracy", "final_val_accuracy"} <= set(g.columns):
            gap = (g.final_train_accuracy - g.final_val_accuracy) * 100
            row["gap (pts)"] = f"{gap.mean():.1f}"
        row["seeds"] = g.seed.nunique()
        out.append(row)
    return pd.DataFrame(out)


def provenance_table(run_info: dict[str, Any] | None, seeds: list[int]) -> pd.DataFrame:
    """Key / value rows: seeds, wall time, hardware, Python and package versions."""
    rows = [("seeds", ", ".join(map(str, seeds)))]
    if run_info:
        secs = run_info.get("seconds")
        if secs is not None:
            rows.append(("wall time", f"{secs:.0f} s ({secs / 60:.1f} min)"))
        for key in ("corruption_calibration", "platform", "processor", "processes",
                    "cpu_threads", "precision", "pretrain_processes", "pretrain_threads", "cuda",
                    "python"):
            if key in run_info:
                rows.append((key, str(run_info[key])))
        together = run_info.get("pretrain_processes", 1)
        each = f" (each, {together} at once)" if together > 1 else ""
        steady = run_info.get("pretrain_steady_images_per_second") or {}
        for name, rate in (run_info.get("pretrain_images_per_second") or {}).items():
            after = f" ({steady[name]:,.0f} after the first epoch)" if name in steady else ""
            rows.append((f"pretraining {name}", f"{rate:,.0f} images/s{each}{after}"))
        for pkg, ver in (run_info.get("versions") or {}).items():
            rows.append((pkg, str(ver)))
    return pd.DataFrame(rows, columns=["key", "value"])


def _cell(v: Any) -> str:
    if isinstance(v, float) and np.isnan(v):
        return "-"
    return str(v)


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table ("(empty)" for no rows)."""
    if df.empty:
        return "(empty)"
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(_cell(v).replace("|", "\\|") for v in row) + " |"
            for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def to_html(df: pd.DataFrame, classes: dict[str, str] | None = None) -> str:
    """An escaped HTML table; ``classes`` maps a cell's text to a CSS class (verdict colours)."""
    if df.empty:
        return "<p><em>(empty)</em></p>"
    classes = classes or {}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            text = _cell(v)
            # a verdict cell may carry its numbers after the word: "supports +3.1 [...]"
            cls = classes.get(text) or next((c for k, c in classes.items()
                                             if text.startswith(k + " ")), None)
            attr = f' class="{cls}"' if cls else ""
            cells.append(f"<td{attr}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
