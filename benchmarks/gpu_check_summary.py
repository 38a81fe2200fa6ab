"""The GPU check's JSON as Markdown for docs/scale.md, with what its figures say.

    python benchmarks/gpu_check_summary.py gpu_check.json

Prints the hardware, every measured figure in tables, and the readings the figures decide: the
issue's 50,000 views/s target, whether ``torch.compile``, LARS's compiled update, cuDNN's
autotuner and the one-pass augmentation pay, whether the eager step is launch-bound, host
waits per step, and the ``fmnist-resnet18`` preset's pretraining time at its full 100 epochs
from the end-to-end run's measured rate. Only reads the JSON; a step that failed or was skipped is shown as such.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

TARGET_VIEWS_PER_SECOND = 50_000
"""Issue 15's goal for ResNet-18 (CIFAR stem) on 32-px inputs on one H100/H200-class GPU."""
# The cut-offs below are chosen decision rules, not measurements. On the H200 the same step
# measured in two processes differed by up to 10% (CUDA graphs: 42,617 and 47,476 views/s),
# and cudnn.benchmark read 0.88x once and 1.25x another time, so a reading within a few
# percent of 1 says little; the summary prints each ratio for a reader to judge.
LAUNCH_BOUND = 0.7
"""An eager step whose operators' host floor is at least this share of its time is launch-bound."""
PAYS = 1.05
"""A speed option pays where its step is at least this much faster (and costs where it is at
least this much slower), measured in one process."""
HOST_BOUND = 2.0
"""A step whose views/s grow at least this much at four times the batch is host-bound (a
device-bound step would grow little: its kernels take about four times as long)."""
PRESET_BATCH = ("eager_channels_last", "eager_contiguous", "compiled_channels_last",
                "compiled_cudagraphs_channels_last",
                "compiled_cudagraphs_lars_compiled_channels_last",
                "eager_channels_last_cudnn_benchmark")
"""The 32-px variants at the cifar100 preset's batch."""
VARIANTS = PRESET_BATCH + ("eager_channels_last_batch_x4", "imagenet100_eager_channels_last",
                           "imagenet100_compiled_cudagraphs_channels_last")
COLUMNS = ("images_per_second", "views_per_second", "tflops", "share_of_measured_bf16_peak",
           "share_of_datasheet_bf16_peak", "step_ms", "ops_per_step", "dispatch_floor_ms",
           "host_syncs_per_step")


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _status(step) -> str | None:
    """'error: ...' or 'skipped: ...' for a step that measured nothing, else None."""
    if not isinstance(step, dict):
        return "not run"
    for key in ("error", "skipped"):
        if key in step:
            return f"{key}: {step[key]}"
    return None


def _ratio(a: dict, b: dict, key: str = "views_per_second") -> float | None:
    if _status(a) or _status(b) or not a.get(key) or not b.get(key):
        return None
    return a[key] / b[key]


def _against_target(views: float) -> str:
    """'N views/s: meets (misses) the 50,000 target (R x).'"""
    return (f"{views:,.0f} views/s: " + ("meets" if views >= TARGET_VIEWS_PER_SECOND else "misses")
            + f" the {TARGET_VIEWS_PER_SECOND:,} target ({views / TARGET_VIEWS_PER_SECOND:.2f}x).")


def lars_compiled_pays(fused: dict, graphs: dict) -> tuple[float, bool] | None:
    """The CUDA-graph step with LARS's update compiled (``pretrain.compile_optimizer``) over
    the one without, and whether that pays (at least ``PAYS`` faster); None unless both ran."""
    ratio = _ratio(fused, graphs)
    return None if ratio is None else (ratio, ratio >= PAYS)


GRAPHS = {"compile": True, "compile_mode": "reduce-overhead"}
"""The 32-px presets' CUDA graphs: the step each speed option is measured in."""
SPEED_OPTIONS = {"LARS compiled": "compile_optimizer", "augmentation compiled": "compile_augment",
                 "cuDNN autotuned": "cudnn_benchmark"}
"""Speed options no preset turns on yet, by name: ``gpu_profile``'s variant
``variant_name(NAME)`` is the CUDA-graph step with ``pretrain.KEY`` on. Each option's GPU tests
carry its key in their names (``tests/test_gpu.py``), so ``pytest -k KEY`` runs them."""
COMBINED = "reduce-overhead, the options that paid"
"""``gpu_profile``'s variant with every option that paid alone (and passed its GPU tests),
where two or more did."""


def variant_name(option: str) -> str:
    """``gpu_profile``'s name for the CUDA-graph step with the speed option ``option`` (a name
    in ``SPEED_OPTIONS``)."""
    return f"reduce-overhead, {option}"


def set_items(change: dict) -> str:
    """``--set`` items for changes to the pretraining section (``{"compile": True}`` ->
    ``pretrain.compile=true``)."""
    return " ".join(f"pretrain.{key}={str(value).lower() if isinstance(value, bool) else value}"
                    for key, value in change.items())


def options_that_paid(modes: dict) -> list[str]:
    """The keys of the options whose variant alone was at least ``PAYS`` times the plain
    CUDA-graph step in ``compile_modes``' figures ``modes``."""
    plain = modes.get("reduce-overhead", {})
    return [key for name, key in SPEED_OPTIONS.items()
            if (r := _ratio(modes.get(variant_name(name), {}), plain)) is not None
            and r >= PAYS]


def junit_outcomes(path: Path) -> dict[str, str] | None:
    """Each test's outcome ("passed", "failed", "skipped") in pytest's ``--junitxml`` report at
    ``path`` (an error counts as failed); None where there is none to read (pytest was
    stopped by its time limit, or crashed)."""
    import xml.etree.ElementTree as ET

    try:
        cases = list(ET.parse(path).getroot().iter("testcase"))
    except (OSError, ET.ParseError):
        return None

    def outcome(case) -> str:
        if case.find("failure") is not None or case.find("error") is not None:
            return "failed"
        return "skipped" if case.find("skipped") is not None else "passed"

    return {case.get("name", ""): outcome(case) for case in cases}


def tested_options(folder: Path) -> list[str]:
    """The option keys whose GPU tests (``folder/KEY.xml``, one pytest run each) all passed,
    at least one of them: a test that failed, a run that wrote no report, or tests that only
    skipped (no GPU) leave the option out."""
    usable = []
    for key in SPEED_OPTIONS.values():
        outcomes = junit_outcomes(folder / f"{key}.xml")
        if outcomes and "failed" not in outcomes.values() and "passed" in outcomes.values():
            usable.append(key)
    return usable


def profile_setting(profile: dict, usable: list[str]) -> str:
    """From a ``gpu_profile.json``: the ``--set`` items of the fastest variant with speed
    options (each alone, and ``COMBINED``) whose options are all ``usable`` (their GPU tests
    passed), where it was at least ``PAYS`` times the plain CUDA-graph step; else ''."""
    modes = profile.get("compile_modes") or {}
    paying = {}
    for name, step in modes.items():
        options = step.get("options") if isinstance(step, dict) else None
        ratio = _ratio(step, modes.get("reduce-overhead", {})) if options else None
        if ratio is not None and ratio >= PAYS and set(options) <= set(usable):
            paying[name] = ratio
    return modes[max(paying, key=paying.get)]["set"] if paying else ""


def projected_seconds(info: dict, epochs: int, batch: int) -> float | None:
    """A finished ``gpu_full_run.sh`` run (its ``full-run.json``) with each encoder's
    pretraining taken to ``epochs``: its wall time plus, per encoder, the epochs it did not
    train, each ``steps`` x ``batch`` images (``last_epoch_rate``) at the encoder's steady rate:
    run.json's ``pretrain_steady_images_per_second`` (wall clock over the epochs after the
    first, checkpoints included), else its last epoch's median step. The other phases
    (features, SAE, grid) do not depend on the epochs, so this is the whole protocol's time.
    None where the run did not finish or an encoder's rate is missing."""
    if not info.get("finished") or not info.get("checkpoint_epochs"):
        return None
    last = info.get("last_epoch_rate") or {}
    steady, more = info.get("pretrain_steady_images_per_second") or {}, 0.0
    for name, done in info["checkpoint_epochs"].items():
        steps = (last.get(name) or {}).get("steps")
        rate = steady.get(name) or (last.get(name) or {}).get("images_per_second")
        if not steps or not rate:
            return None
        more += max(0, epochs - done) * steps * batch / rate
    return round(info["seconds"] + more, 1)


def tables(report: dict) -> list[str]:
    env, out = report.get("environment", {}), []
    gpus = f" (x{env['gpus']})" if env.get("gpus", 1) > 1 else ""
    out.append(f"GPU check on {env.get('gpu') or env.get('device')}{gpus}, torch {env.get('torch')}, CUDA {env.get('cuda')}, "
               f"{env.get('cpu_cores')} cores, commit {str(env.get('commit'))[:10]}, "
               f"{report.get('seconds')} s{' (tiny sizes)' if report.get('tiny') else ''}.")
    peaks = report.get("peaks", {})
    out.append(f"\nMatmul peak: fp32 {_cell(peaks.get('fp32_gflops'))} GFLOP/s, bf16 "
               f"{_cell(peaks.get('bf16_gflops'))} GFLOP/s ({peaks.get('matmul_size')}^3).")
    t = report.get("tests", {})
    out.append(f"\nTests: error: {t['error']}" if "error" in t else f"\nTests ({', '.join(t.get('files', []))}): {t.get('tests')} run, "
               f"{t.get('failures', 0) + t.get('errors', 0)} failed, {t.get('skipped')} skipped"
               + (f"; failed: {', '.join(t['failed'])}" if t.get("failed") else "") + ".")
    r18 = report.get("resnet18", {})
    if _status(r18):
        out.append(f"\nresnet18: {_status(r18)}")
    else:
        out.append(f"\nPretraining step, batch {r18.get('batch_size')}, {r18.get('precision')}, "
                   f"one tiny operator {r18.get('us_per_small_op')} us on the host:\n")
        out.append("| variant | " + " | ".join(COLUMNS) + " |")
        out.append("|---" * (len(COLUMNS) + 1) + "|")
        for name in VARIANTS:
            row = r18.get(name)
            if _status(row):
                out.append(f"| {name} | {_status(row)} |" + " |" * (len(COLUMNS) - 1))
            else:
                out.append(f"| {name} | " + " | ".join(_cell(row.get(c)) for c in COLUMNS) + " |")
        aug = r18.get("augmentation_ms", {})
        out.append(f"\nBoth views' augmentation: a pass each {_cell(aug.get('a_pass_each'))} ms, "
                   f"one pass {_cell(aug.get('one_pass'))} ms.")
    syncs = report.get("host_syncs", {})
    out.append(_status(syncs) or "\nHost waits per step: " + ", ".join(
        f"{k.removesuffix('_per_step')} {_cell(v)}" for k, v in syncs.items()) + ".")
    e2e = report.get("end_to_end", {})
    if _status(e2e) or e2e.get("returncode"):
        out.append(f"\nEnd to end: {_status(e2e) or e2e.get('stderr_tail')}")
    else:
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in (e2e.get("phase_seconds") or {}).items())
        out.append(f"\nEnd to end (`{e2e.get('command')}`): {e2e.get('seconds')} s ({phases}); "
                   f"pretraining views/s {e2e.get('pretrain_views_per_second')}, "
                   f"{e2e.get('precision')}, {e2e.get('summary_rows')} rows"
                   + (f"; left out: {e2e['scenarios_left_out']}" if e2e.get("scenarios_left_out")
                      else "") + ".")
    lightly = report.get("lightly", {})
    out.append(f"\nlightly: {_status(lightly) or lightly.get('ratio_line')}")
    return out


def readings(report: dict, full_epochs: int = 100, train_images: int = 54_000) -> list[str]:
    """What the figures decide, one line each."""
    r18, out = report.get("resnet18", {}), []
    measured = {n: r18[n] for n in PRESET_BATCH if not _status(r18.get(n))}
    if measured:
        best = max(measured, key=lambda n: measured[n]["views_per_second"])
        views = measured[best]["views_per_second"]
        out.append(f"Best 32-px step at the preset's batch: {best}, {_against_target(views)}")
    eager = r18.get("eager_channels_last", {})
    x4 = _ratio(r18.get("eager_channels_last_batch_x4", {}), eager)
    if x4 is not None:
        out.append(f"Four times the batch: {x4:.2f}x the views/s of the eager step ("
                   + ("host-bound: the device waits for the host's launches; CUDA graphs or "
                      "fewer operators would pay" if x4 >= HOST_BOUND else
                      "device-bound") + "; "
                   f"{r18['eager_channels_last_batch_x4']['views_per_second']:,.0f} views/s).")
    for name, what in (("compiled_channels_last", "torch.compile"),
                       ("compiled_cudagraphs_channels_last", "torch.compile's CUDA graphs"),
                       ("eager_channels_last_cudnn_benchmark", "cudnn.benchmark"),
                       ("eager_contiguous", "contiguous instead of channels-last")):
        ratio = _ratio(r18.get(name, {}), eager)
        if ratio is not None:
            out.append(f"{what}: {ratio:.2f}x the eager channels-last step "
                       + ("(pays)" if ratio >= PAYS else "(does not pay)" if ratio <= 1 / PAYS
                          else "(no difference)") + ".")
    fused = lars_compiled_pays(r18.get("compiled_cudagraphs_lars_compiled_channels_last", {}),
                               r18.get("compiled_cudagraphs_channels_last", {}))
    if fused is not None:
        ratio, pays = fused
        out.append(f"LARS's update compiled too (pretrain.compile_optimizer): {ratio:.2f}x the "
                   "CUDA-graph step (" + ("pays: turn it on in the 32-px presets" if pays else
                                          "does not pay: leave it off") + ").")
    big = _ratio(r18.get("imagenet100_compiled_cudagraphs_channels_last", {}),
                 r18.get("imagenet100_eager_channels_last", {}))
    if big is not None:
        out.append(f"imagenet100 (224 px) under CUDA graphs: {big:.2f}x its eager step ("
                   + ("turn them on in its preset" if big >= PAYS else "keep it eager") + ").")
    if not _status(eager) and eager.get("dispatch_floor_ms") and eager.get("step_ms"):
        share = eager["dispatch_floor_ms"] / eager["step_ms"]
        out.append(f"Eager step: its operators' host floor is {share:.0%} of its time: "
                   + ("launch-bound (fewer operators, CUDA graphs or compile would pay)"
                      if share >= LAUNCH_BOUND else "a lower bound (a tiny operator's host time; "
                      "a convolution or BatchNorm costs the host more): see four times the "
                      "batch") + ".")
    aug = r18.get("augmentation_ms", {})
    if aug.get("one_pass") and aug.get("a_pass_each"):
        out.append(f"One-pass augmentation: {aug['a_pass_each'] / aug['one_pass']:.2f}x a pass "
                   "each" + (" (keep it)" if aug["one_pass"] <= aug["a_pass_each"] else
                             " (slower here: revisit simclr_views' device rule)") + ".")
    waits = {k: v for k, v in report.get("host_syncs", {}).items() if v}
    if waits:
        out.append(f"Loops that make the host wait every step: {waits}.")
    e2e = report.get("end_to_end") or {}
    steady = e2e.get("pretrain_steady_images_per_second") or {}   # compiling left out
    rates = steady or e2e.get("pretrain_images_per_second") or {}
    if rates and not report.get("tiny"):
        seconds = sum(full_epochs * train_images / r for r in rates.values())
        which = "after their first epoch" if steady else "(compiling included)"
        out.append(f"fmnist-resnet18 at {full_epochs} epochs: pretraining ({', '.join(rates)}) "
                   f"about {seconds / 60:.1f} min at the end-to-end run's rates {which}, of "
                   "the 10-minute goal for the whole protocol.")
    return out


def next_tables(folder: Path) -> list[str]:
    """``gpu_next.sh``'s files in ``folder`` (the device tool's ``files_at``) as Markdown for
    docs/scale.md: the options whose GPU tests passed, the CUDA-graph variants against the plain
    step and the target, the step's parts, and the protocol's run with its projection."""
    out = []
    tests = folder / "tests.txt"
    if tests.exists():
        lines = [line.split(":", 1)[1].strip() for line in tests.read_text().splitlines()
                 if line.startswith("usable options:")]
        usable = (lines[-1] or "none") if lines else "not recorded"
        out.append(f"Speed options whose GPU tests passed: {usable}.")
    profile = json.loads((folder / "gpu_profile.json").read_text()) \
        if (folder / "gpu_profile.json").exists() else {}
    modes = profile.get("compile_modes") or {}
    if isinstance(modes, dict) and modes:
        out.append(f"\nThe {profile.get('preset')} step under CUDA graphs on {profile.get('device')}, "
                   f"torch {profile.get('torch')}, batch {profile.get('batch_size')}:\n")
        out.append("| variant | views/s | step ms | x plain CUDA graphs | s with compiling | options |")
        out.append("|---|---|---|---|---|---|")
        plain = modes.get("reduce-overhead", {})
        for name, step in modes.items():
            status = _status(step)
            if status:
                out.append(f"| {name} | {status} | | | | |")
                continue
            ratio = _ratio(step, plain)
            out.append(f"| {name} | {_cell(step.get('views_per_second'))} | "
                       f"{_cell(step.get('step_ms'))} | {'-' if ratio is None else f'{ratio:.3f}'} | "
                       f"{_cell(step.get('seconds_with_compilation'))} | "
                       f"{', '.join(step.get('options') or []) or '-'} |")
        best = max((s for s in modes.values() if not _status(s) and s.get("views_per_second")),
                   key=lambda s: s["views_per_second"], default=None)
        if best:
            out.append(f"\nFastest: {_against_target(best['views_per_second'])}")
    parts = profile.get("parts_ms") or {}
    if parts and not _status(parts):
        out.append("\nThe step's parts, each timed alone (ms): "
                   + ", ".join(f"{k} {_cell(v)}" for k, v in parts.items()) + ".")
    run = json.loads((folder / "full-run.json").read_text()) \
        if (folder / "full-run.json").exists() else None
    if run:
        out.append(f"\nProtocol: `{run.get('command')}`: "
                   + (f"finished in {run.get('seconds')} s" if run.get("finished") else
                      f"stopped at {run.get('seconds')} s (limit {run.get('limit_seconds')})")
                   + f"; phases {run.get('phase_seconds')}; checkpoint epochs "
                   f"{run.get('checkpoint_epochs')}; steady images/s "
                   f"{run.get('pretrain_steady_images_per_second') or run.get('last_epoch_rate')}.")
        projected = run.get("projected_seconds_at_the_presets_epochs")
        if projected:
            out.append(f"Projected at the preset's {run.get('presets_epochs')} epochs: "
                       f"{projected:,.0f} s ({projected / 60:.1f} min) of the 10-minute goal.")
        elif run.get("written_after_seconds"):
            out.append(f"Files last written, seconds in: {run['written_after_seconds']}.")
    return out or [f"no files of gpu_next.sh in {folder}"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("json", type=Path, nargs="?",
                   help="gpu_check.json (gpu_profile.json with --setting)")
    p.add_argument("--setting", action="store_true",
                   help="print only the --set items a gpu_profile.json's figures call for")
    p.add_argument("--tested", type=Path, metavar="DIR",
                   help="the options' GPU tests, DIR/KEY.xml (pytest --junitxml): with "
                        "--setting, only options whose tests passed; alone, print those")
    p.add_argument("--options", action="store_true", help="print the speed options' keys")
    p.add_argument("--next", type=Path, metavar="DIR",
                   help="print gpu_next.sh's files in DIR as tables for docs/scale.md")
    args = p.parse_args()
    if args.next:
        print("\n".join(next_tables(args.next)))
        return
    if args.options:
        print(" ".join(SPEED_OPTIONS.values()))
        return
    usable = tested_options(args.tested) if args.tested else []
    if args.json is None:
        if args.tested is None:
            p.error("give a JSON, or --tested DIR, or --options")
        print(" ".join(usable))
        return
    report = json.loads(args.json.read_text())
    if args.setting:
        print(profile_setting(report, usable))
        return
    print("\n".join(tables(report)))
    print("\nReadings:\n" + "\n".join(f"- {line}" for line in readings(report)))


if __name__ == "__main__":
    main()
