"""Run the whole experiment: pretrain, robustness grid, metrics, summary table.

Trains the polysemantic (CL) and monosemantic (NCL, ...) representations of the preset, runs
every scenario x severity x seed on frozen features, and writes into --out: config.yaml,
results.jsonl, metrics.jsonl, summary.csv and the report. Rerunning the same command resumes.
"""

from __future__ import annotations

import argparse

from monorobust.commands.common import add_run_arguments, config_from_args


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_arguments(p)
    p.add_argument("--no-report", action="store_true",
                   help="skip writing OUT/report.html (write it later with `monorobust report OUT`)")


def main(args: argparse.Namespace) -> int:
    from monorobust import experiment
    from monorobust.rundir import format_results_table

    cfg = config_from_args(args)
    outcome = experiment.run(cfg, progress=not args.quiet)
    if outcome.summary is None:          # not rank 0
        return 0
    print(f"\naccuracy (%) on the test split, mean ± std over {_seed_count(outcome.summary)} seeds"
          f" ({cfg.data.name}, {cfg.pretrain.encoder})")
    print(format_results_table(outcome.summary, list(cfg.representations)))
    print(f"\nwrote {outcome.out}/ in {outcome.seconds:.0f} s")
    if not args.no_report:
        from monorobust.report import write_report
        from monorobust.rundir import RunDir

        with RunDir(outcome.out).hold("run"):
            print(f"report: {write_report(outcome.out).html}")
    return 0


def _seed_count(summary) -> str:
    """How many seeds the cells average over (all in the folder, not only this invocation's):
    "3", or "1-3" where cells differ."""
    low, high = summary["n"].min(), summary["n"].max()
    return f"{low}" if low == high else f"{low}-{high}"
