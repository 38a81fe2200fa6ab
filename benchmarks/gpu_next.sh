#!/usr/bin/env bash
# What issue 15 still lacks, as one device call of under 10 minutes (docs/scale.md, "The next
# GPU session"):
#   1. the speed options' CUDA tests, never run on a GPU yet (tests/test_gpu.py, each named
#      after its option's key: the per-tensor formula, the views, training under CUDA graphs
#      like the eager step): one pytest run per option (-k KEY), at most TEST_LIMIT (90) seconds
#      each, so one that fails or hangs rules out its option only;
#   2. gpu_profile.py: the augmentation and the optimiser's step alone, eager and compiled
#      (parts_ms), and the cifar100 step under CUDA graphs as the presets run it, with each
#      speed option (LARS's update compiled, the augmentation's transforms compiled, cuDNN's
#      autotuner), then with those that paid alone and passed their tests together
#      (compile_modes --speed; each variant written as soon as it has run);
#   3. gpu_full_run.sh: the fmnist-resnet18 preset's whole protocol (every phase, scenario and
#      severity at full size) but EPOCHS (4) pretraining epochs an encoder, with the options
#      of the fastest variant that paid and passed its tests (gpu_check_summary.py --setting).
#      full-run.json projects the whole protocol's time at the preset's 100 epochs from each
#      encoder's steady rate (the other phases do not depend on them); a run stopped when
#      BUDGET runs out says how far it got. The real 100-epoch run is gpu_full_run.sh alone,
#      a device call of its own.
#
#   COMMIT=<sha> bash benchmarks/gpu_next.sh     # -> $OUT: gpu_profile.json, full-run.json, ...
#   BUDGET=570 TEST_LIMIT=90 PROFILE_LIMIT=230   # seconds: all steps; each option's tests; the profile
#   EPOCHS=4                                     # pretraining epochs of step 3's run
#   DEVICE=cpu TINY=1 SET="..." GPU_TESTS=FILE bash benchmarks/gpu_next.sh   # tiny, CPU (tests)
#
# Eight files come back (the device tool's most): tests.txt, gpu_profile.json,
# profile-stderr.txt, and gpu_full_run.sh's full-run.json, stderr.txt, run.json, summary.csv,
# report.md. Then: python3 benchmarks/gpu_check_summary.py --next FILES_AT (tables for the docs).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${OUT:-$PWD/gpu-next}"
BUDGET="${BUDGET:-570}"
DEVICE="${DEVICE:-cuda}"
started=$SECONDS
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
source benchmarks/use_kit.sh       # the carried .device-kit; what the machine lacks installed
junit="$(mktemp -d)"               # each option's junit XML: read here, not brought back
trap 'rm -rf "$junit"' EXIT
: >"$OUT_DIR/tests.txt"
for key in $(python3 benchmarks/gpu_check_summary.py --options); do
    echo "== $key" >>"$OUT_DIR/tests.txt"
    timeout -k 10 "${TEST_LIMIT:-90}" python3 -m pytest -q -p no:cacheprovider \
        "${GPU_TESTS:-tests/test_gpu.py}" -k "$key" --junitxml "$junit/$key.xml" \
        >>"$OUT_DIR/tests.txt" 2>&1
    echo "== $key: exit $?" >>"$OUT_DIR/tests.txt"
done
read -ra usable <<<"$(python3 benchmarks/gpu_check_summary.py --tested "$junit")"
echo "usable options: ${usable[*]}" >>"$OUT_DIR/tests.txt"
tiny=()
if [ "${TINY:-0}" = 1 ]; then tiny=(--tiny); fi
timeout -k 10 "${PROFILE_LIMIT:-230}" python3 benchmarks/gpu_profile.py --device "$DEVICE" \
    "${tiny[@]}" --parts parts_ms compile_modes --speed --usable "${usable[@]}" \
    --out "$OUT_DIR" 2>"$OUT_DIR/profile-stderr.txt"
profile_rc=$?
setting=""
if [ -f "$OUT_DIR/gpu_profile.json" ]; then
    setting="$(python3 benchmarks/gpu_check_summary.py --setting "$OUT_DIR/gpu_profile.json" \
               --tested "$junit")"
fi
echo "gpu_next: options whose tests passed: ${usable[*]:-none}; profile (exit $profile_rc);" \
     "$((SECONDS - started)) s; full run with: ${setting:-the preset as it is}"
left=$((BUDGET - (SECONDS - started)))
[ "$left" -lt 60 ] && left=60
# The chosen items come last: they were measured as a whole (the CUDA-graph mode included).
OUT="$OUT_DIR" LIMIT="$left" SET="pretrain.epochs=${EPOCHS:-4} ${SET:-} $setting" \
    DEVICE="$DEVICE" bash benchmarks/gpu_full_run.sh
