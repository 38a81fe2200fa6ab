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


def _on_the_cpu(**settings: str) -> dict:
    """The environment a benchmark script runs in here: the CPU for the device, this Python's
    folder first on PATH (the scripts call ``python3``), and ``settings``."""
    return {**os.environ, "DEVICE": "cpu",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            **settings}


@pytest.mark.slow
def test_gpu_check_writes_every_figure_at_tiny_size_on_the_cpu(tmp_path):
    # The kit a GPU machine without internet is given: its wheels must be installed and used.
    _wheel(tmp_path / "kit" / "wheels", "lightly", "0.0.1")
    out = tmp_path / "out"
    env = _on_the_cpu(TINY="1", OUT=str(out), KIT=str(tmp_path / "kit"))
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["preflight"]["packages"]["lightly"] == "0.0.1"        # from the kit
    assert report["preflight"]["packages"]["corrupt_tta"]               # the test install's
    # What comes back from the device tool: at most 8 files, no run folder.
    assert sorted(p.name for p in out.iterdir()) == [
        "e2e-report.md", "e2e-run.json", "e2e-summary.csv", "gpu_check.json", "tests.log",
        "tests.xml"]
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
    for name in ("eager_channels_last_cudnn_benchmark", "imagenet100_eager_channels_last",
                 "eager_channels_last_batch_x4"):
        assert r18[name]["images_per_second"] > 0, r18[name]
    for name in ("compiled_cudagraphs_channels_last",
                 "compiled_cudagraphs_lars_compiled_channels_last",
                 "imagenet100_compiled_cudagraphs_channels_last"):
        assert "skipped" in r18[name]                  # tiny: no compiling on the CPU
    text = "\n".join(_benchmark("gpu_check_summary").tables(report))
    assert "| eager_channels_last | " in text and "Tests (tests/test_gpu.py)" in text
    # The loops ran (an error would be recorded instead); only CUDA counts host waits.
    assert report["host_syncs"] == {"pretrain_per_step": None, "sae_per_step": None,
                                    "probes_per_step": None}
    assert "skipped" in report["lightly"] or report["lightly"]["returncode"] == 0
    e2e = report["end_to_end"]
    assert set(e2e["phase_seconds"]) == {"pretrain", "features", "posthoc", "grid"}, e2e
    assert set(e2e["pretrain_images_per_second"]) == {"cl-seed0", "ncl-seed0"}
    assert e2e["pretrain_steady_images_per_second"] == {}      # one epoch: none after it
    assert e2e["summary_rows"] > 0 and e2e["precision"] == "bf16-mixed"
    assert e2e["scenarios_left_out"] == {}
    assert ",corrupt,3.0," in (out / "e2e-summary.csv").read_text()      # every scenario ran


def _tiny_full_run() -> str:
    """The fmnist-resnet18 protocol at tiny size (gpu_full_run.sh's SET): gpu_check's tiny
    end-to-end settings, with 60 images a class so that few-shot's k=50 fits."""
    tiny = _benchmark("gpu_check").TINY_E2E
    return " ".join(tiny + ["pretrain.warmup_epochs=0", "data.train_size=600"])


def _benchmark(name: str):
    import importlib

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def _gpu_check():
    return _benchmark("gpu_check")


def test_the_summary_reads_off_what_the_figures_decide():
    summary = _benchmark("gpu_check_summary")
    step = {"views_per_second": 40_000.0, "step_ms": 12.8, "dispatch_floor_ms": 10.0}
    report = {"resnet18": {
        "eager_channels_last": step,
        "compiled_channels_last": {"views_per_second": 60_000.0, "step_ms": 8.5},
        "eager_contiguous": {"error": "RuntimeError: boom"},
        "compiled_cudagraphs_channels_last": {"views_per_second": 20_000.0, "step_ms": 25.6},
        "compiled_cudagraphs_lars_compiled_channels_last": {"views_per_second": 20_400.0},
        "eager_channels_last_batch_x4": {"views_per_second": 100_000.0, "step_ms": 20.5},
        "imagenet100_eager_channels_last": {"views_per_second": 8_000.0, "step_ms": 32.0},
        "imagenet100_compiled_cudagraphs_channels_last": {"views_per_second": 8_100.0},
        "augmentation_ms": {"a_pass_each": 3.0, "one_pass": 2.0}},
        "host_syncs": {"pretrain_per_step": 0.0, "sae_per_step": 2.0, "probes_per_step": 0.0},
        "end_to_end": {"pretrain_images_per_second": {"cl-seed0": 27_000.0,
                                                      "ncl-seed0": 18_000.0}}}
    lines = summary.readings(report)
    assert lines[0].startswith("Best 32-px step at the preset's batch: compiled_channels_last, "
                               "60,000 views/s: meets")
    assert "torch.compile: 1.50x the eager channels-last step (pays)." in lines
    assert ("torch.compile's CUDA graphs: 0.50x the eager channels-last step (does not pay)."
            in lines)
    assert lines[1].startswith("Four times the batch: 2.50x the views/s of the eager step "
                               "(host-bound")
    assert ("LARS's update compiled too (pretrain.compile_optimizer): 1.02x the CUDA-graph step "
            "(does not pay: leave it off).") in lines
    assert summary.lars_compiled_pays({"views_per_second": 21_000.0},
                                      {"views_per_second": 20_000.0}) == (1.05, True)
    assert summary.lars_compiled_pays({"error": "boom"}, {"views_per_second": 1.0}) is None
    assert "imagenet100 (224 px) under CUDA graphs: 1.01x its eager step (keep it eager)." in lines
    assert not any("contiguous" in line for line in lines)             # it failed: no reading
    assert any("78% of its time: launch-bound" in line for line in lines)
    assert "One-pass augmentation: 1.50x a pass each (keep it)." in lines
    assert "Loops that make the host wait every step: {'sae_per_step': 2.0}." in lines
    # 100 epochs x 54,000 images: 200 s at 27,000 images/s + 300 s at 18,000 = 8.3 minutes
    assert "about 8.3 min at the end-to-end run's rates (compiling included)" in lines[-1]
    # The rates after each encoder's first epoch, where run.json has them: 200 + 200 s.
    report["end_to_end"]["pretrain_steady_images_per_second"] = {"cl-seed0": 27_000.0,
                                                                 "ncl-seed0": 27_000.0}
    assert "about 6.7 min at the end-to-end run's rates after their first epoch" in \
        summary.readings(report)[-1]
    assert "error: RuntimeError: boom" in "\n".join(summary.tables(report))


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


def test_the_profiles_compile_modes_are_the_modes_they_are_named_after():
    """Each variant of ``gpu_profile.compile_modes`` on the preset's eager config: "default"
    compiled without CUDA graphs, whatever mode the preset sets (cifar100: reduce-overhead)."""
    from dataclasses import replace

    profile, check = _benchmark("gpu_profile"), _benchmark("gpu_check")
    base = check.resnet18_config(True)
    modes = {name: replace(base, **change) for name, change in profile.COMPILE_MODES.items()}
    assert not modes["eager"].compile
    assert (modes["default"].compile, modes["default"].compile_mode) == (True, "default")
    assert all(cfg.compile_mode == "reduce-overhead" for name, cfg in modes.items()
               if name.startswith("reduce-overhead"))
    summary = _benchmark("gpu_check_summary")
    for name, key in summary.SPEED_OPTIONS.items():       # each option alone, on
        cfg = modes[f"reduce-overhead, {name}"]
        assert getattr(cfg, key) and all(not getattr(cfg, other) for other in
                                         summary.SPEED_OPTIONS.values() if other != key)


def _option_profile(lars: float, augment: float, cudnn: float,
                    together: float | None = None) -> dict:
    """A ``gpu_profile.json`` whose plain CUDA-graph step made 40,000 views/s, each option
    alone the given views/s (None: it failed), and the options that paid alone, together,
    ``together`` (None: not run)."""
    summary = _benchmark("gpu_check_summary")

    def variant(views: float | None, *options: str) -> dict:
        if views is None:
            return {"error": "out of memory"}
        return {"views_per_second": views, "options": list(options),
                "set": summary.set_items({**summary.GRAPHS, **dict.fromkeys(options, True)})}

    modes = {"reduce-overhead": variant(40_000.0),
             summary.variant_name("LARS compiled"): variant(lars, "compile_optimizer"),
             summary.variant_name("augmentation compiled"): variant(augment, "compile_augment"),
             summary.variant_name("cuDNN autotuned"): variant(cudnn, "cudnn_benchmark")}
    paid = summary.options_that_paid(modes)
    modes[summary.COMBINED] = (variant(together, *paid) if together is not None
                               else {"skipped": "not run"})
    return {"compile_modes": modes}


def test_the_full_run_takes_the_fastest_speed_option_that_pays_and_passed_its_tests():
    """``profile_setting``: the ``--set`` items of the fastest variant with speed options (each
    alone, or those that paid alone together) where it is at least PAYS (1.05) times the plain
    CUDA-graph step, leaving out every variant with an option whose GPU tests did not pass."""
    summary = _benchmark("gpu_check_summary")
    graphs = "pretrain.compile=true pretrain.compile_mode=reduce-overhead"
    lars, augment, cudnn = (f"pretrain.{key}=true" for key in
                            ("compile_optimizer", "compile_augment", "cudnn_benchmark"))
    all_paid = _option_profile(43_000, 48_000, 44_000, together=50_000)
    assert summary.options_that_paid(all_paid["compile_modes"]) == \
        ["compile_optimizer", "compile_augment", "cudnn_benchmark"]
    every = ["compile_optimizer", "compile_augment", "cudnn_benchmark"]
    assert summary.profile_setting(all_paid, every) == f"{graphs} {lars} {augment} {cudnn}"
    assert summary.profile_setting(_option_profile(43_000, 48_000, 44_000, together=47_000),
                                   every) == f"{graphs} {augment}"
    # compile_augment's tests did not pass: neither it nor a variant with it
    assert summary.profile_setting(all_paid, ["compile_optimizer", "cudnn_benchmark"]) == \
        f"{graphs} {cudnn}"
    assert summary.profile_setting(all_paid, []) == ""          # no option's tests passed
    assert summary.profile_setting(_option_profile(43_000, 40_500, None), every) == \
        f"{graphs} {lars}"
    assert summary.profile_setting(_option_profile(41_000, 41_900, 40_100), every) == ""
    assert summary.profile_setting({"compile_modes": {"error": "boom"}}, every) == ""
    assert summary.profile_setting({}, every) == ""


def test_a_short_runs_time_is_projected_to_the_presets_epochs():
    """``projected_seconds``: a finished run's wall time plus each encoder's missing epochs at
    its last epoch's rate; nothing for a run cut short or without a rate."""
    summary = _benchmark("gpu_check_summary")
    rate = {"epoch": 3, "steps": 210, "images_per_second": 22_400.0}   # 2.4 s an epoch
    info = {"finished": True, "seconds": 100.0,
            "checkpoint_epochs": {"cl-seed0": 3, "ncl-seed0": 3},
            "last_epoch_rate": {"cl-seed0": rate, "ncl-seed0": rate}}
    assert summary.projected_seconds(info, 100, 256) == pytest.approx(100 + 2 * 97 * 2.4)
    # run.json's steady rate (wall clock, checkpoints included) where the run has one
    slower = {**info, "pretrain_steady_images_per_second": {"cl-seed0": 21_504.0,
                                                            "ncl-seed0": 21_504.0}}
    assert summary.projected_seconds(slower, 100, 256) == pytest.approx(100 + 2 * 97 * 2.5)
    assert summary.projected_seconds(info, 3, 256) == 100.0          # nothing left to train
    assert summary.projected_seconds({**info, "finished": False}, 100, 256) is None
    assert summary.projected_seconds({**info, "last_epoch_rate": {"cl-seed0": rate}}, 100,
                                     256) is None


_OPTION_TESTS = """
import pytest

def test_compile_optimizer_fine(): pass

@pytest.mark.skip(reason="no GPU")
def test_cudnn_benchmark_on_a_gpu(): pass

@pytest.mark.parametrize("option", ["compile_augment", "cudnn_benchmark"])
def test_option(option): assert option == "cudnn_benchmark"
"""
"""Stand-ins for tests/test_gpu.py's option tests: compile_optimizer's pass, compile_augment's
fail, cudnn_benchmark's one passes and one skips."""


def _junit(tmp_path: Path) -> Path:
    """``_OPTION_TESTS``' junit XML per option, as gpu_next.sh writes them, in a folder."""
    tests, folder = tmp_path / "test_options.py", tmp_path / "junit"
    tests.write_text(_OPTION_TESTS)
    for key in ("compile_optimizer", "compile_augment", "cudnn_benchmark"):
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(tests), "-k", key, "--junitxml", str(folder / f"{key}.xml")],
                       capture_output=True, timeout=300, cwd=tmp_path)
    return folder


def test_each_options_gpu_tests_are_found_by_its_key_and_gate_it(tmp_path):
    """Every option's key selects at least one test of tests/test_gpu.py (gpu_next.sh runs
    ``-k KEY``); an option is usable where its tests' junit XML shows one passed and none
    failed; the command line reads the folder and prints the setting that leaves the others
    out."""
    summary = _benchmark("gpu_check_summary")
    script = str(ROOT / "benchmarks" / "gpu_check_summary.py")
    keys = subprocess.run([sys.executable, script, "--options"], capture_output=True,
                          text=True, check=True).stdout.split()
    assert keys == list(summary.SPEED_OPTIONS.values())
    found = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                            "-p", "no:cacheprovider", str(ROOT / "tests" / "test_gpu.py")],
                           capture_output=True, text=True, timeout=300, cwd=ROOT)
    ids = [line for line in found.stdout.splitlines() if "::" in line]
    assert all(any(key in i for i in ids) for key in keys), ids
    folder = _junit(tmp_path)
    assert summary.junit_outcomes(folder / "cudnn_benchmark.xml") == {
        "test_cudnn_benchmark_on_a_gpu": "skipped", "test_option[cudnn_benchmark]": "passed"}
    assert summary.tested_options(folder) == ["compile_optimizer", "cudnn_benchmark"]
    assert subprocess.run([sys.executable, script, "--tested", str(folder)], capture_output=True,
                          text=True, check=True).stdout.split() == \
        ["compile_optimizer", "cudnn_benchmark"]
    profile = tmp_path / "gpu_profile.json"
    profile.write_text(json.dumps(_option_profile(43_000, 48_000, 44_000, together=50_000)))
    setting = subprocess.run([sys.executable, script, "--setting", str(profile), "--tested",
                              str(folder)], capture_output=True, text=True, check=True).stdout
    assert setting.split() == ["pretrain.compile=true", "pretrain.compile_mode=reduce-overhead",
                               "pretrain.cudnn_benchmark=true"]     # augment's test failed
    # A report cut short, no report (pytest stopped), only skips (no GPU): not usable.
    cut = folder / "compile_optimizer.xml"
    cut.write_text(cut.read_text()[:40])
    (folder / "cudnn_benchmark.xml").unlink()
    assert summary.junit_outcomes(cut) is None
    assert summary.junit_outcomes(folder / "cudnn_benchmark.xml") is None
    assert summary.tested_options(folder) == []
    only_skips = tmp_path / "test_skips.py"
    only_skips.write_text("import pytest\n@pytest.mark.skip(reason='no GPU')\n"
                          "def test_cudnn_benchmark(): pass\n")
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    str(only_skips), "--junitxml", str(folder / "cudnn_benchmark.xml")],
                   capture_output=True, timeout=300, cwd=tmp_path)
    assert summary.junit_outcomes(folder / "cudnn_benchmark.xml") == {
        "test_cudnn_benchmark": "skipped"}
    assert summary.tested_options(folder) == []


@pytest.mark.slow
def test_the_next_sessions_call_tests_profiles_then_runs_the_protocol_as_they_say(tmp_path):
    """benchmarks/gpu_next.sh at tiny size on the CPU, with stand-ins for the options' GPU
    tests (compile_augment's fail): each option's tests, the profile's CUDA-graph variants
    (the combined one of the options that paid and passed), then the protocol with the options
    of the fastest variant that paid and passed, and no others, and its projected time."""
    tests = tmp_path / "test_options.py"
    tests.write_text(_OPTION_TESTS)
    env = _on_the_cpu(TINY="1", KIT=str(tmp_path / "no-kit"), OUT=str(tmp_path / "out"),
                      SET=_tiny_full_run(), GPU_TESTS=str(tests))
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_next.sh")], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    out = tmp_path / "out"
    assert len(list(out.iterdir())) <= 8            # what the device tool brings back
    log = (out / "tests.txt").read_text()
    assert all(f"== {key}: exit" in log for key in ("compile_optimizer", "compile_augment",
                                                    "cudnn_benchmark"))
    assert "options whose tests passed: compile_optimizer cudnn_benchmark;" in done.stdout
    profile = json.loads((out / "gpu_profile.json").read_text())
    summary = _benchmark("gpu_check_summary")
    modes = profile["compile_modes"]
    assert set(modes) == {"reduce-overhead", summary.COMBINED,
                          *map(summary.variant_name, summary.SPEED_OPTIONS)}
    for name, key in summary.SPEED_OPTIONS.items():
        assert modes[summary.variant_name(name)]["set"] == \
            f"pretrain.compile=true pretrain.compile_mode=reduce-overhead pretrain.{key}=true"
    paid = [key for key in summary.options_that_paid(modes) if key != "compile_augment"]
    if len(paid) < 2:                             # on a CPU, noise decides which paid
        assert "skipped" in modes[summary.COMBINED]
    else:
        assert modes[summary.COMBINED]["options"] == paid
    assert {"optimizer_compiled", "augmentation_compiled"} <= set(profile["parts_ms"])
    info = json.loads((out / "full-run.json").read_text())
    assert info["finished"] and info["checkpoint_epochs"] == {"cl-seed0": 1, "ncl-seed0": 1}
    # SET's pretrain.epochs=1 came after gpu_next's EPOCHS: the run's time at the preset's 100
    assert "--set pretrain.epochs=4" in info["command"] and info["presets_epochs"] == 100
    assert info["projected_seconds_at_the_presets_epochs"] > info["seconds"]
    chosen = summary.profile_setting(profile, ["compile_optimizer", "cudnn_benchmark"])
    assert f"full run with: {chosen or 'the preset as it is'}" in done.stdout
    assert "compile_augment" not in chosen
    for key in summary.SPEED_OPTIONS.values():
        option = f"pretrain.{key}=true"
        assert (f"--set {option}" in info["command"]) == (option in chosen.split())
    # What comes back, as the tables for docs/scale.md
    tables = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check_summary.py"),
                             "--next", str(out)], capture_output=True, text=True,
                            check=True).stdout
    assert "Speed options whose GPU tests passed: compile_optimizer cudnn_benchmark." in tables
    assert all(f"| {summary.variant_name(name)} |" in tables for name in summary.SPEED_OPTIONS)
    assert f"Projected at the preset's 100 epochs: " \
           f"{info['projected_seconds_at_the_presets_epochs']:,.0f} s" in tables


@pytest.mark.slow
def test_the_full_run_script_times_the_preset_and_says_how_far_it_got(tmp_path):
    """benchmarks/gpu_full_run.sh at tiny size on the CPU: finished, then stopped by its limit."""
    tiny = _tiny_full_run()
    env = _on_the_cpu(KIT=str(tmp_path / "no-kit"))
    script = str(ROOT / "benchmarks" / "gpu_full_run.sh")
    out = tmp_path / "done"
    done = subprocess.run(["bash", script], env={**env, "OUT": str(out), "SET": tiny},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    info = json.loads((out / "full-run.json").read_text())
    assert info["finished"] and info["returncode"] == 0 and info["seconds"] > 0
    assert info["checkpoint_epochs"] == {"cl-seed0": 1, "ncl-seed0": 1}
    assert set(info["last_epoch_rate"]) == {"cl-seed0", "ncl-seed0"}
    assert all(r["epoch"] == 1 and r["images_per_second"] > 0
               for r in info["last_epoch_rate"].values())
    assert set(info["phase_seconds"]) >= {"pretrain", "features", "grid"}
    assert info["pretrain_steady_images_per_second"] == {}     # one epoch: none after it
    assert info["projected_seconds_at_the_presets_epochs"] > info["seconds"]   # 1 of 100
    written = info["written_after_seconds"]       # each phase's last write, seconds in
    assert {"checkpoints/cl-seed0", "checkpoints/ncl-seed0", "results.jsonl"} <= set(written)
    assert any(name.startswith("features/") for name in written)
    assert 0 < written["checkpoints/cl-seed0"] <= written["results.jsonl"] <= info["seconds"]
    assert info["result_rows"] == len((out / "summary.csv").read_text().splitlines()) - 1
    assert {p.name for p in out.iterdir()} >= {"run.json", "summary.csv", "report.md"}
    # Stopped at its limit: not finished, and no results it did not reach.
    out = tmp_path / "cut"
    slow = tiny.replace("pretrain.epochs=1", "pretrain.epochs=500")
    cut = subprocess.run(["bash", script], env={**env, "OUT": str(out), "SET": slow,
                                                "LIMIT": "25"},
                         capture_output=True, text=True, timeout=600)
    assert cut.returncode == 0, cut.stderr[-2000:]             # its summary was written
    info = json.loads((out / "full-run.json").read_text())
    assert not info["finished"] and info["returncode"] != 0
    assert info["projected_seconds_at_the_presets_epochs"] is None
    assert "checkpoints/cl-seed0" in info["written_after_seconds"]     # how far it got
    assert not (out / "summary.csv").exists()


def test_the_profile_sorts_the_kernels_an_h200_ran_by_kind():
    kind_of = _benchmark("gpu_profile").kind_of
    seen = {  # names (shortened) from torch.profiler on the H200, 30 Nov 2026
        "sm90_xmma_dgrad_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc": "convolution",
        "void cutlass__5x_cudnn::Kernel<cutlass_tensorop_bf16_s16816fprop": "convolution",
        "void precomputed_convolve_sgemm<__nv_bfloat16, 128, 6, 7, 3, 3, 5, 1>": "convolution",
        "void at::native::batch_norm_collect_statistics_channels_last_kernel": "batchnorm",
        "void at::native::(anonymous namespace)::multi_tensor_apply_kernel<": "optimizer",
        "void at::native::vectorized_elementwise_kernel<8, CUDAFunctor_add<>": "elementwise",
        "nvjet_tst_128x256_64x4_2x1_v_bz_coopA_TNT": "matmul",
        "void at::native::reduce_kernel<512, 1, ReduceOp<float, NormTwoOps": "reduction"}
    assert {name: kind_of(name) for name in seen} == seen


@pytest.mark.slow
def test_the_profile_runs_at_tiny_size_on_the_cpu(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_profile.py"), "--device",
                           "cpu", "--tiny", "--out", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_profile.json").read_text())
    parts = report["parts_ms"]
    assert set(parts) == {"augmentation", "augmentation_compiled", "forward", "forward_backward",
                          "step", "optimizer", "optimizer_compiled"}
    assert min(parts.values()) > 0
    kernels = report["kernels"]
    assert kernels["busy_ms_per_step"] > 0 and kernels["top_kernels"]
    assert "convolution" in kernels["by_kind_ms_per_step"]      # the CPU's operators, here
    assert (tmp_path / "kernels.txt").read_text().strip()
    assert set(report["batch_sweep"]) == {"8", "16"}
    assert all(v["views_per_second"] > 0 for v in report["batch_sweep"].values())
    assert report["host_sync_sites"] is None                     # nothing waits off CUDA
    assert "skipped" in report["compile_modes"]
    # Chosen variants run even tiny; on a CPU "reduce-overhead" trains the model eagerly, and
    # pretrain.compile_optimizer compiles LARS's update there too.
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_profile.py"), "--device",
                           "cpu", "--tiny", "--out", str(tmp_path / "chosen"), "--parts",
                           "compile_modes", "--variants", "eager",
                           "reduce-overhead, LARS compiled"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    modes = json.loads((tmp_path / "chosen" / "gpu_profile.json").read_text())["compile_modes"]
    assert set(modes) == {"eager", "reduce-overhead, LARS compiled"}, modes
    assert all(m["views_per_second"] > 0 for m in modes.values()), modes
