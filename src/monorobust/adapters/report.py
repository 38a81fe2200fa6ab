"""The language-model experiments' folder: config.json, typed rows, summary.csv and table.txt.

``lora classify`` and ``lora align`` run on the shared grid mechanism (``monorobust.rows``):
``open_rows`` records the config and returns the row file of this config's rows, ``write_tables``
summarises them (mean ± std over seeds) into summary.csv and a printed table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from monorobust.fields import config_diff, to_dict
from monorobust.io import atomic_write_text, write_json
from monorobust.rows import Row, RowFile, format_table, mean_std_cell, summarise

CONFIG, RESULTS, SUMMARY, TABLE = "config.json", "results.jsonl", "summary.csv", "table.txt"


def open_rows(out: Path, cfg: Any, fingerprint: str, axes: Sequence[str], row_type: type[Row],
              log: Callable[[str], None]) -> RowFile:
    """Record ``cfg`` in ``out/config.json``; the rows of ``out/results.jsonl`` made under it.

    Rows of another config (another ``fingerprint``) stay in the file but are not reused; the
    keys in which the recorded config differs (``config_diff``, grid ``axes`` aside) are logged.
    """
    path, now = out / CONFIG, {**to_dict(cfg), "fingerprint": fingerprint}
    if path.exists():
        try:
            then = json.loads(path.read_text())
        except ValueError:
            then = {}
        changed = config_diff(then, now, ignore=tuple(axes) + ("fingerprint",))
        if changed:
            log(f"{out}: earlier rows were made with another config (differs in: "
                f"{', '.join(changed)}); they stay in {RESULTS} but are not reused")
    write_json(path, now)
    return RowFile(out / RESULTS, row_type, where=lambda r: r.fingerprint == fingerprint)


def write_tables(out: Path, rows: Sequence[Row], keys: Sequence[str], metrics: Sequence[str],
                 headers: dict[str, str]) -> str:
    """summary.csv (``rows.summarise`` over seeds) and table.txt, metrics as ``mean ± std`` in %
    (n seeds per line); returns the table."""
    summary = summarise(rows, keys, metrics)
    if not summary.empty:
        atomic_write_text(out / SUMMARY, summary.to_csv(index=False))
    body = [[str(getattr(s, k)) for k in keys] + [str(s.n)]
            + [mean_std_cell(getattr(s, f"{m}_mean"), getattr(s, f"{m}_std")) for m in metrics]
            for s in summary.itertuples()]
    table = format_table([headers.get(c, c) for c in list(keys) + ["n"] + list(metrics)], body)
    atomic_write_text(out / TABLE, table + "\n")
    return table
