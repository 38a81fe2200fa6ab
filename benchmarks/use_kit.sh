# Sourced by the device scripts (gpu_check.sh, gpu_next.sh, gpu_full_run.sh) once the tree's
# src/ is on PYTHONPATH: use the carried .device-kit/ (benchmarks/device_kit.sh), then install
# monorobust's dependencies where the machine lacks them. The kit's wheels are installed,
# without their dependencies, into a temporary folder put last on PYTHONPATH (so the machine's
# own torch stays); Fashion-MNIST is read from it as $MONOROBUST_CACHE/fashion-mnist unless
# MONOROBUST_CACHE is set. Done once: a script sourcing it under another that did skips it.
if [ -z "${MONOROBUST_KIT_READY:-}" ]; then
    KIT="${KIT:-$PWD/.device-kit}"
    if compgen -G "$KIT/wheels/*.whl" >/dev/null; then
        site="$(mktemp -d)/site"
        if python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" \
                "$KIT"/wheels/*.whl; then
            export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$site"  # holds the kit's packages alone
        else
            echo "$(basename "$0"): could not install the wheels in $KIT/wheels (going on" \
                 "without)" >&2
        fi
    fi
    if [ -d "$KIT/fashion-mnist" ] && [ -z "${MONOROBUST_CACHE:-}" ]; then
        export MONOROBUST_CACHE="$KIT"
    fi
    if ! python3 -c "import monorobust.experiment, lightning_fabric, pytest" 2>/dev/null; then
        echo "$(basename "$0"): installing monorobust and its test dependencies" >&2
        if python3 -c "import torch" 2>/dev/null; then
            MONOROBUST_TORCH="" ./install.sh test      # keep the machine's own (CUDA) torch
        else
            ./install.sh test
        fi
    fi
    export MONOROBUST_KIT_READY=1
fi
