#!/usr/bin/env bash
# Issue 15's last GPU figure: the fmnist-resnet18 preset's whole protocol (CL, NCL, CL+SAE, one
# seed, every scenario, 100 epochs) as one command, timed, on one GPU (docs/scale.md).
#
#   bash benchmarks/gpu_full_run.sh            # -> $OUT/full-run.json, run.json, summary.csv, ...
#   LIMIT=560 bash benchmarks/gpu_full_run.sh  # seconds before the run is stopped (default 560)
#   DEVICE=cpu SET="pretrain.epochs=1 ..." bash benchmarks/gpu_full_run.sh   # tiny, CPU (tests)
#
# The goal is 10 minutes. A run still going at LIMIT is stopped (SIGINT, then SIGKILL), and
# full-run.json says how far it got: the epoch each encoder's checkpoints reached and its rate
# in its last logged epoch (compiling left out), when each phase's files last changed
# (written_after_seconds), and run.json's phase times where it finished. A finished run of
# fewer epochs than the preset's (SET="pretrain.epochs=4", as gpu_next.sh runs it) also gets
# its time projected to the preset's epochs (projected_seconds_at_the_presets_epochs).
# Uses .device-kit/ like gpu_check.sh (benchmarks/device_kit.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${OUT:-$PWD/gpu-full-run}"
LIMIT="${LIMIT:-560}"
DEVICE="${DEVICE:-cuda}"
sets=()
read -ra items <<<"${SET:-}"       # split on spaces, no glob ("grid.corruptions=[fog]")
for item in "${items[@]}"; do sets+=(--set "$item"); done
mkdir -p "$OUT_DIR"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
source benchmarks/use_kit.sh       # the carried .device-kit; what the machine lacks installed
run_dir="$(mktemp -d)/run"
started=$(date +%s.%N)
timeout -s INT -k 20 "$LIMIT" python3 -m monorobust run --preset fmnist-resnet18 \
    --device "$DEVICE" --seeds 0 --out "$run_dir" --quiet "${sets[@]}" 2>"$OUT_DIR/stderr.txt"
rc=$?
seconds=$(python3 -c "import time; print(round(time.time() - $started, 1))")
for f in run.json summary.csv report.md; do
    [ -f "$run_dir/$f" ] && cp "$run_dir/$f" "$OUT_DIR/$f"
done
python3 - "$run_dir" "$rc" "$seconds" "$LIMIT" "${COMMIT:-}" "$DEVICE" "${SET:-}" "$started" \
    >"$OUT_DIR/full-run.json" <<'EOF'
import json, sys
from pathlib import Path

import torch

run, rc, seconds, limit = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
commit, device, sets = sys.argv[5] or None, sys.argv[6], sys.argv[7].split()
started = float(sys.argv[8])
info = {"command": f"monorobust run --preset fmnist-resnet18 --device {device} --seeds 0"
                   + "".join(f" --set {item}" for item in sets),
        "returncode": rc, "seconds": seconds, "limit_seconds": limit, "commit": commit,
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__, "finished": rc == 0}
from monorobust.train.checkpoint import checkpoint_epoch, latest_checkpoint
from monorobust.train.logs import read_curve

epochs, steady = {}, {}
for folder in sorted((run / "checkpoints").glob("*-seed*")):
    last = latest_checkpoint(folder)
    epochs[folder.name] = checkpoint_epoch(last) if last else 0
    # The steady rate, also when the run was cut: the median of the per-step images/s of the
    # encoder's last logged epoch (compiling and the first epoch left out once a later epoch
    # was logged; the first epoch's own where none was). read_curve skips a
    # log it cannot read; a row cut short by the kill is NaN, which the median leaves out.
    curve = read_curve(folder)
    if curve is not None and len(curve):
        last_epoch = int(curve["epoch"].max())
        last = curve.loc[curve["epoch"] == last_epoch]
        steady[folder.name] = {"epoch": last_epoch + 1, "steps": len(last),
                               "images_per_second": round(last["images_per_second"].median(), 1)}
info["checkpoint_epochs"] = epochs
info["last_epoch_rate"] = steady
# How far each phase got, also in a cut run (run.json comes at the end): the seconds after the
# start at which each encoder's checkpoints, features, SAE and results last changed.
info["written_after_seconds"] = {
    str(path.relative_to(run)): round(path.stat().st_mtime - started, 1)
    for part in ("checkpoints", "features", "posthoc") for path in sorted((run / part).glob("*"))}
if (run / "results.jsonl").exists():
    info["written_after_seconds"]["results.jsonl"] = round(
        (run / "results.jsonl").stat().st_mtime - started, 1)
    info["result_rows"] = len((run / "results.jsonl").read_text().splitlines())
if (run / "run.json").exists():
    meta = json.loads((run / "run.json").read_text())
    for key in ("seconds", "phase_seconds", "pretrain_images_per_second",
                "pretrain_steady_images_per_second", "precision"):
        info[key if key != "seconds" else "run_seconds"] = meta.get(key)
# Fewer epochs than the preset's (gpu_next.sh's run): the whole protocol's time, projected.
import yaml
from monorobust.config import load_config

sys.path.insert(0, str(Path("benchmarks").resolve()))
from gpu_check_summary import projected_seconds

if (run / "config.yaml").exists():
    batch = yaml.safe_load((run / "config.yaml").read_text())["pretrain"]["batch_size"]
    full = load_config("fmnist-resnet18").pretrain.epochs
    info["projected_seconds_at_the_presets_epochs"] = projected_seconds(info, full, batch)
    info["presets_epochs"] = full
print(json.dumps(info, indent=2))
EOF
written=$?
cat "$OUT_DIR/full-run.json"
exit "$written"                    # the run's own exit code is in full-run.json
