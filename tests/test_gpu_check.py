"""benchmarks/gpu_check.sh at tiny size on the CPU: the same code the GPU check runs, device swapped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_check_writes_every_figure_at_tiny_size_on_the_cpu(tmp_path):
    env = {**os.environ, "DEVICE": "cpu", "TINY": "1", "OUT": str(tmp_path),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["environment"]["device"] == "cpu"
    assert report["peaks"]["fp32_gflops"] > 0 and report["peaks"]["bf16_gflops"] > 0
    tests = report["tests"]
    assert tests["returncode"] == 0 and tests["skipped"] == tests["tests"] > 0    # no CUDA here
    r18 = report["resnet18"]
    for name in ("eager_channels_last", "eager_contiguous"):
        assert r18[name]["images_per_second"] > 0, r18[name]
        assert 0 < r18[name]["share_of_measured_bf16_peak"]
    assert "skipped" in r18["compiled_channels_last"]
    assert "skipped" in report["lightly"] or report["lightly"]["returncode"] == 0
    e2e = report["end_to_end"]
    assert set(e2e["phase_seconds"]) == {"pretrain", "features", "posthoc", "grid"}, e2e
    assert set(e2e["pretrain_images_per_second"]) == {"cl-seed0", "ncl-seed0"}
    assert e2e["summary_rows"] > 0 and e2e["precision"] == "bf16-mixed"
