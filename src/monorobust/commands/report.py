"""Write the HTML / Markdown report of a run folder (figures, tables, verdicts, feature gallery).

    monorobust report runs/quick

Writes RUN_DIR/report.html (self-contained, opens offline), RUN_DIR/report.md and every figure
as PNG and SVG under RUN_DIR/figures/. Works on unfinished runs: the report lists what is missing.
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="the --out folder of `monorobust run`")


def main(args: argparse.Namespace) -> int:
    from monorobust.report import write_report
    from monorobust.rundir import RunDir

    with RunDir(args.run_dir).hold("report", create=False):
        paths = write_report(args.run_dir)
    print(f"wrote {paths.html}, {paths.markdown} and {len(paths.figures)} figure files")
    if paths.missing:
        print(f"the run lacks {len(paths.missing)} piece(s); listed under 'At a glance'")
    return 0
