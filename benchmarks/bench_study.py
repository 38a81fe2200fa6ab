"""Wall time of ``monorobust study`` on a run folder (the quick preset's, for the must-reach).

    python benchmarks/bench_study.py RUN_DIR [--copy-to DIR] [--threads N] [STUDY FLAGS...]

Copies RUN_DIR to a fresh folder (default: a temporary one; never writes into RUN_DIR, which
may be another session's), drops any earlier study rows and cached study features there, runs
``monorobust study`` with the given flags (default: every axis at its default) and prints the
wall time, the rows written, the CPU count and the load average before and after. The
must-reach: on the quick preset's folder (3 seeds x cl, ncl, cl+sae), the default axes (7
protocols x 3 regimes x 3 noise types) within 15 minutes on 2 CPU cores. Run by hand; timings
on a shared machine move with its load, so the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", help="a finished run folder (read only)")
    ap.add_argument("--copy-to", help="where to copy it (default: a temporary folder)")
    ap.add_argument("--threads", type=int, default=None,
                    help="the study's --threads (default: the study's default, every core)")
    args, flags = ap.parse_known_args()          # the rest: `monorobust study` flags
    from monorobust.cli import main as cli

    dest = Path(args.copy_to or tempfile.mkdtemp(prefix="bench-study-")) / "run"
    shutil.copytree(args.run_dir, dest, ignore=shutil.ignore_patterns(".lock", "study*"))
    flags = [f for f in flags if f != "--"]
    load0, started = os.getloadavg(), time.perf_counter()
    threads = [] if args.threads is None else ["--threads", str(args.threads)]
    rc = cli(["study", str(dest), "--quiet", "--no-report", *threads,
              *flags])
    seconds = time.perf_counter() - started
    rows = (dest / "study.jsonl").read_text().count("\n") if (dest / "study.jsonl").exists() else 0
    print(f"study: {seconds:.1f} s wall, {rows} rows, exit {rc}; {os.cpu_count()} CPUs, "
          f"load average {load0[0]:.1f} before, {os.getloadavg()[0]:.1f} after; folder {dest}")
    sys.exit(rc)


if __name__ == "__main__":
    main()
