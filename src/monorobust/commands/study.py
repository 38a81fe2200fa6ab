"""When do the claims hold? Probe protocols x data regimes x label-noise types on a run's features.

    monorobust study runs/quick                          # every axis at its default
    monorobust study runs/quick --protocols val fixed --n-per-class 50 0 --noise-types pairflip

Reloads the run's encoders from their checkpoints (pretrains nothing), extracts and caches their
features once under RUN_DIR/study/, trains the probes of every protocol x regime x noise type x
seed x representation (those sharing features in one batch) and appends one row per cell to
RUN_DIR/study.jsonl; a rerun computes only the missing cells. `monorobust report RUN_DIR` then
adds the section "When do the claims hold?".
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    from monorobust.flags import add_dataclass_arguments, add_set_option
    from monorobust.study import StudyConfig

    p.add_argument("run_dir", metavar="RUN_DIR", help="the --out folder of `monorobust run`")
    p.add_argument("--device", default="cpu", help="where features are extracted and probes "
                   "train (default: cpu)")
    p.add_argument("--no-report", action="store_true", help="do not rewrite the report")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    add_dataclass_arguments(p.add_argument_group("study axes"), StudyConfig)
    add_set_option(p, "study.noise_rates=[0.2,0.4]")


def main(args: argparse.Namespace) -> int:
    from monorobust.flags import dataclass_from_args
    from monorobust.study import StudyConfig, run_study, study_table

    cfg = dataclass_from_args(StudyConfig, args, section="study")
    result = run_study(args.run_dir, cfg, args.device, progress=not args.quiet)
    print(study_table(result["rows"]))
    print(f"{len(result['rows'])} rows ({len(result['new'])} new) in "
          f"{args.run_dir}/study.jsonl; {result['seconds']:.1f} s")
    if not args.no_report:
        from monorobust.report import write_report
        from monorobust.rundir import RunDir

        with RunDir(args.run_dir).hold("report", create=False):
            paths = write_report(args.run_dir)
        print(f"wrote {paths.html}")
    return 0
