#!/usr/bin/env bash
# What issue 15 still lacks, as one device call of under 10 minutes (docs/scale.md, "The next
# GPU session"):
#   1. gpu_profile.py: the augmentation and the optimiser's step alone, eager and compiled
#      (parts_ms), and the cifar100 step under CUDA graphs as the presets run it, with each
#      speed option no preset turns on yet (LARS's update compiled, the augmentation's
#      transforms compiled, cuDNN's autotuner), then with those that paid alone together
#      (compile_modes; each variant written as soon as it has run);
#   2. those options' CUDA tests (tests/test_gpu.py, each named after its option's key: the
#      per-tensor formula, the views, training under CUDA graphs like the eager step), never
#      run on a GPU yet;
#   3. gpu_full_run.sh: the fmnist-resnet18 preset's whole protocol (every phase, scenario and
#      severity at full size) but EPOCHS (3) pretraining epochs an encoder, with the fastest
#      variant's options where step 1 found it pays and step 2 failed none of its tests
#      (gpu_check_summary.py --setting). full-run.json projects the whole protocol's time at
#      the preset's 100 epochs from each encoder's steady rate (the other phases do not
#      depend on them); a run stopped when BUDGET runs out says how far it got. The real 100-epoch run
#      is gpu_full_run.sh alone, a device call of its own.
#
#   COMMIT=<sha> bash benchmarks/gpu_next.sh     # -> $OUT: gpu_profile.json, full-run.json, ...
#   BUDGET=570 PROFILE_LIMIT=230 TESTS_LIMIT=150  # seconds: all steps; the profile; the tests
#   EPOCHS=3                                      # pretraining epochs of step 3's run
#   DEVICE=cpu TINY=1 SET="..." bash benchmarks/gpu_next.sh   # tiny, on the CPU (tests)
#
# Eight files come back (the device tool's most): gpu_profile.json, profile-stderr.txt,
# tests.txt, and gpu_full_run.sh's full-run.json, stderr.txt, run.json, summary.csv, report.md.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${OUT:-$PWD/gpu-next}"
BUDGET="${BUDGET:-570}"
DEVICE="${DEVICE:-cuda}"
started=$SECONDS
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
source benchmarks/use_kit.sh       # the carried .device-kit; what the machine lacks installed
tiny=()
if [ "${TINY:-0}" = 1 ]; then tiny=(--tiny); fi
timeout -k 10 "${PROFILE_LIMIT:-230}" python3 benchmarks/gpu_profile.py --device "$DEVICE" \
    "${tiny[@]}" --parts parts_ms compile_modes \
    --variants "reduce-overhead" "reduce-overhead, LARS compiled" \
    "reduce-overhead, augmentation compiled" "reduce-overhead, cuDNN autotuned" \
    "reduce-overhead, the options that paid" \
    --out "$OUT_DIR" 2>"$OUT_DIR/profile-stderr.txt"
profile_rc=$?
xml="$(mktemp -d)/tests.xml"      # read here, not brought back
timeout -k 10 "${TESTS_LIMIT:-150}" python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py \
    -k "compile_optimizer or compile_augment or cudnn_benchmark" --junitxml "$xml" \
    >"$OUT_DIR/tests.txt" 2>&1
tests_rc=$?
setting=""
if [ -f "$OUT_DIR/gpu_profile.json" ]; then
    setting="$(python3 benchmarks/gpu_check_summary.py --setting "$OUT_DIR/gpu_profile.json" \
               --tests "$xml")"
fi
echo "gpu_next: profile (exit $profile_rc) and tests (exit $tests_rc) done in $((SECONDS - started)) s;" \
     "full run with: ${setting:-the preset as it is}"
left=$((BUDGET - (SECONDS - started)))
[ "$left" -lt 60 ] && left=60
OUT="$OUT_DIR" LIMIT="$left" SET="pretrain.epochs=${EPOCHS:-3} ${SET:-} $setting" \
    DEVICE="$DEVICE" bash benchmarks/gpu_full_run.sh
