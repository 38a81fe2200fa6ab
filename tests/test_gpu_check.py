"""benchmarks/gpu_check.sh at tiny size on the CPU: the same code the GPU check runs, device swapped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _wheel(folder: Path, name: str, version: str) -> None:
    """A minimal pure-Python wheel of package ``name`` (what device_kit.sh puts in the kit)."""
    folder.mkdir(parents=True)
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as whl:
        whl.writestr(f"{name}/__init__.py", f"__version__ = {version!r}\n")
        whl.writestr(f"{info}/METADATA",
                     f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        whl.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\n"
                                      "Root-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{info}/RECORD", "")


@pytest.mark.slow
def test_gpu_check_writes_every_figure_at_tiny_size_on_the_cpu(tmp_path):
    # The kit a GPU machine without internet is given: its wheels must be installed and used.
    _wheel(tmp_path / "kit" / "wheels", "lightly", "0.0.1")
    out = tmp_path / "out"
    env = {**os.environ, "DEVICE": "cpu", "TINY": "1", "OUT": str(out),
           "KIT": str(tmp_path / "kit"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["preflight"]["packages"]["lightly"] == "0.0.1"        # from the kit
    assert report["preflight"]["packages"]["corrupt_tta"]               # the test install's
    # What comes back from the device tool: at most 8 files, no run folder.
    assert sorted(p.name for p in out.iterdir()) == [
        "e2e-report.md", "e2e-run.json", "e2e-summary.csv", "gpu_check.json", "tests.xml"]
    assert report["environment"]["device"] == "cpu"
    assert report["peaks"]["fp32_gflops"] > 0 and report["peaks"]["bf16_gflops"] > 0
    tests = report["tests"]
    assert tests["returncode"] == 0 and tests["skipped"] == tests["tests"] > 0    # no CUDA here
    r18 = report["resnet18"]
    for name in ("eager_channels_last", "eager_contiguous"):
        assert r18[name]["images_per_second"] > 0, r18[name]
        assert 0 < r18[name]["share_of_measured_bf16_peak"]
        assert r18[name]["ops_per_step"] > 100 and 0 < r18[name]["dispatch_floor_ms"]
    assert "skipped" in r18["compiled_channels_last"]
    assert set(r18["augmentation_ms"]) == {"a_pass_each", "one_pass"}
    assert min(r18["augmentation_ms"].values()) > 0
    for name in ("eager_channels_last_cudnn_benchmark", "imagenet100_eager_channels_last"):
        assert r18[name]["images_per_second"] > 0, r18[name]
    # The loops ran (an error would be recorded instead); only CUDA counts host waits.
    assert report["host_syncs"] == {"pretrain_per_step": None, "sae_per_step": None,
                                    "probes_per_step": None}
    assert "skipped" in report["lightly"] or report["lightly"]["returncode"] == 0
    e2e = report["end_to_end"]
    assert set(e2e["phase_seconds"]) == {"pretrain", "features", "posthoc", "grid"}, e2e
    assert set(e2e["pretrain_images_per_second"]) == {"cl-seed0", "ncl-seed0"}
    assert e2e["summary_rows"] > 0 and e2e["precision"] == "bf16-mixed"
    assert e2e["scenarios_left_out"] == {}
    assert ",corrupt,3.0," in (out / "e2e-summary.csv").read_text()      # every scenario ran


def _gpu_check():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return gpu_check


def test_gpu_check_without_fashion_mnist_says_so_and_skips_what_needs_it(tmp_path, monkeypatch):
    from argparse import Namespace

    from monorobust.data import fashion_mnist

    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setenv("MONOROBUST_CACHE", str(tmp_path / "empty"))

    def no_download(*args, **kwargs):      # a GPU machine without internet would wait on it
        raise AssertionError("the check must not try to download")

    monkeypatch.setattr(fashion_mnist.urllib.request, "urlopen", no_download)
    check = _gpu_check()
    args = Namespace(tiny=True, work=tmp_path, out=tmp_path, device="cpu")
    report = {"preflight": check.preflight(args)}
    assert report["preflight"]["fashion_mnist"] is None
    assert "fashion-mnist" in report["preflight"]["missing"]
    for step in (check.end_to_end, check.lightly):
        assert "device_kit.sh" in step(args, report)["skipped"]


def test_gpu_check_leaves_out_the_corruptions_without_corrupt_tta_and_says_so():
    check = _gpu_check()
    SCENARIOS, grid_scenarios = check.SCENARIOS, check.grid_scenarios
    grid, left_out = grid_scenarios(["lightly"])
    assert left_out == {} and grid.count(":") == len(SCENARIOS)
    grid, left_out = grid_scenarios(["corrupt_tta", "torchvision"])
    assert "corrupt" not in grid and set(left_out) == {"corrupt"}
    assert "device_kit.sh" in left_out["corrupt"]
