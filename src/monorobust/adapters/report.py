"""Mean +- std tables over seeds, and the CSV summary next to ``results.jsonl``."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monorobust.io import atomic_write_text


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value); NaNs are skipped."""
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return float("nan"), float("nan")
    m = sum(vals) / len(vals)
    if len(vals) < 2:
        return m, 0.0
    return m, math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))


def summarise(rows: Sequence[dict[str, Any]], keys: Sequence[str], metrics: Sequence[str]) -> list[dict[str, Any]]:
    """One row per distinct ``keys`` tuple (first-seen order): ``n`` and ``<metric>_mean/_std``."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    out = []
    for key, members in groups.items():
        summary: dict[str, Any] = dict(zip(keys, key))
        summary["n"] = len(members)
        for metric in metrics:
            summary[f"{metric}_mean"], summary[f"{metric}_std"] = mean_std([r.get(metric, float("nan"))
                                                                             for r in members])
        out.append(summary)
    return out


def _cell(summary: dict[str, Any], metric: str, percent: bool) -> str:
    m, s = summary[f"{metric}_mean"], summary[f"{metric}_std"]
    if math.isnan(m):
        return "-"
    scale = 100.0 if percent else 1.0
    return f"{m * scale:.1f} ± {s * scale:.1f}" if summary["n"] > 1 else f"{m * scale:.1f}"


def format_table(summaries: Sequence[dict[str, Any]], keys: Sequence[str], metrics: Sequence[str],
                 headers: dict[str, str], percent: bool = True) -> str:
    """A plain-text table, metrics as ``mean ± std`` (in % when ``percent``) over ``n`` seeds."""
    cols = list(keys) + ["n"] + list(metrics)
    body = [[str(s[k]) for k in keys] + [str(s["n"])] + [_cell(s, m, percent) for m in metrics]
            for s in summaries]
    head = [headers.get(c, c) for c in cols]
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(cols))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in body]
    return "\n".join(line.rstrip() for line in lines)


def write_summary_csv(path: str | Path, summaries: Sequence[dict[str, Any]]) -> None:
    """Write the summary rows as CSV, atomically."""
    if not summaries:
        return
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(summaries[0].keys()))
    writer.writeheader()
    writer.writerows(summaries)
    atomic_write_text(path, buf.getvalue())
