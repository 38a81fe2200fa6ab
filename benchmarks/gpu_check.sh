#!/usr/bin/env bash
# The prepared GPU check (docs/scale.md): CUDA tests, ResNet-18 pretraining speed (eager,
# torch.compile, channels-last) against the bf16 peak, lightly's pipeline if installed, and a
# short fmnist-resnet18 run with the time of each phase; one JSON of figures. Under 8 minutes on
# one H100/H200.
#
#   bash benchmarks/gpu_check.sh                    # -> $OUT/gpu_check.json (./gpu-check/ if unset)
#   DEVICE=cpu TINY=1 bash benchmarks/gpu_check.sh  # the same code at tiny size on the CPU (tests)
#   BUDGET=480 bash benchmarks/gpu_check.sh         # seconds for all steps (default 450)
#   E2E_SET="pretrain.compile=true pretrain.compile_mode=reduce-overhead" bash benchmarks/gpu_check.sh
#
# The machine may have no internet. What a CUDA image usually lacks (corrupt-tta, lightly,
# Fashion-MNIST) is gathered beforehand by benchmarks/device_kit.sh into .device-kit/, carried
# with the tree, and used from there (its wheels installed without their dependencies, so the
# machine's own torch stays). Without it, Fashion-MNIST is read from Debian's package folder or
# $MONOROBUST_CACHE/fashion-mnist, and the check records what it had to leave out.
set -uo pipefail
cd "$(dirname "$0")/.."
DEVICE="${DEVICE:-cuda}"
OUT_DIR="${OUT:-$PWD/gpu-check}"
mkdir -p "$OUT_DIR"
# This tree's code, whatever else is installed.
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

source benchmarks/use_kit.sh       # the carried .device-kit; what the machine lacks installed

args=(--device "$DEVICE" --out "$OUT_DIR" --budget "${BUDGET:-450}")
if [ "${TINY:-0}" = 1 ]; then args+=(--tiny); fi
read -ra items <<<"${E2E_SET:-}"   # more --set for the end-to-end run (split, no glob)
for item in "${items[@]}"; do args+=(--e2e-set "$item"); done
python3 benchmarks/gpu_check.py "${args[@]}"
