# Sourced by the device scripts (gpu_check.sh, gpu_full_run.sh): use the carried .device-kit/
# (benchmarks/device_kit.sh). Its wheels are installed, without their dependencies, into a
# temporary folder put last on PYTHONPATH (so the machine's own torch stays); Fashion-MNIST is
# read from it as $MONOROBUST_CACHE/fashion-mnist unless MONOROBUST_CACHE is set.
KIT="${KIT:-$PWD/.device-kit}"
if compgen -G "$KIT/wheels/*.whl" >/dev/null; then
    site="$(mktemp -d)/site"
    if python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" \
            "$KIT"/wheels/*.whl; then
        export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$site"     # holds the kit's packages alone
    else
        echo "$(basename "$0"): could not install the wheels in $KIT/wheels (going on without)" >&2
    fi
fi
if [ -d "$KIT/fashion-mnist" ] && [ -z "${MONOROBUST_CACHE:-}" ]; then
    export MONOROBUST_CACHE="$KIT"
fi
