"""Read a run folder into typed pieces for the report, noting what is missing instead of failing.

Only ``results.jsonl`` with at least one row is required (``ConfigError`` otherwise); every
other file (config.yaml, metrics.jsonl, features/, run.json, finetune.jsonl, toy/toy.json) is
optional and its absence is listed in ``RunData.missing``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from monorobust.errors import ConfigError
from monorobust.evaluate.config import PAPER_SCENARIOS
from monorobust.evaluate.grid import run_order
from monorobust.rundir import RunDir, summarize_results



class RepInfo(NamedTuple):
    """How the report names and groups one representation."""

    name: str
    label: str
    monosemantic: bool | None
    """From the registry; None for a representation this installation does not know."""


class RunData(NamedTuple):
    """Everything the report draws from one run folder."""

    run_dir: Path
    results: pd.DataFrame
    """results.jsonl rows (severity float, seed int)."""
    summary: pd.DataFrame
    """``rundir.summarize_results`` of ``results``."""
    metrics: pd.DataFrame
    """metrics.jsonl rows (may be empty)."""
    reps: list[RepInfo]
    """Representations in the run's order (config order first, then order of appearance)."""
    seeds: list[int]
    config_text: str | None
    config: Any
    """The rebuilt ``RunConfig`` or None when config.yaml is missing or no longer loads."""
    run_info: dict[str, Any] | None
    finetune: pd.DataFrame
    toy: dict[str, Any] | None
    feature_files: dict[tuple[str, int], Path]
    """(representation, seed) -> features/REP-seedS-test.safetensors."""
    missing: list[str]
    """One human-readable line per thing the report cannot show."""


def rep_info(name: str) -> RepInfo:
    """Label and monosemantic flag of ``name`` from the registry (generic when unknown)."""
    from monorobust.evaluate.representations import REPRESENTATIONS

    try:
        rep = REPRESENTATIONS.get(name)
    except (ConfigError, KeyError):
        return RepInfo(name, name, None)
    return RepInfo(name, rep.label or name, bool(rep.monosemantic))


def _read_config(run_dir: Path, missing: list[str]) -> tuple[str | None, Any]:
    path = run_dir / RunDir.CONFIG
    if not path.exists():
        missing.append("config.yaml: no resolved config (the gallery has no images, the "
                       "expected grid is unknown)")
        return None, None
    text = path.read_text()
    try:
        from monorobust.config import RunConfig

        return text, RunDir(run_dir).read_config(RunConfig)
    except ConfigError as err:
        missing.append(f"config.yaml does not load with this version of monorobust ({err}); "
                       "the gallery has no images")
        return text, None


def _expected_missing(cfg: Any, results: pd.DataFrame) -> list[str]:
    """Grid points the config asks for that have no row yet."""
    from monorobust.evaluate.grid import grid_points

    done = set(zip(results["representation"], results["scenario"],
                   results["severity"].astype(float), results["seed"].astype(int)))
    lines = []
    for rep in cfg.representations:
        if rep not in set(results["representation"]):
            lines.append(f"representation {rep} (in config.yaml): no results yet")
            continue
        for seed in cfg.seeds:
            todo = [f"{s}@{sev:g}" for s, sev in grid_points(cfg.grid)
                    if (rep, s, float(sev), int(seed)) not in done]
            if todo:
                lines.append(f"{rep}, seed {seed}: {len(todo)} grid point(s) without results "
                             f"({', '.join(todo[:6])}{' ...' if len(todo) > 6 else ''})")
    return lines


def _read_toy(path: Path) -> dict[str, Any]:
    """toy.json as ``monorobust toy`` writes it (the parts the report reads); ValueError when it
    is not (it was a JSONDecodeError or AttributeError traceback). Its figures must be file
    names in the toy folder: the report reads them, and never a path out of it."""
    doc = json.loads(path.read_bytes())
    parts = [doc.get(p) for p in ("superposition", "two_feature")] if isinstance(doc, dict) else []
    figures = doc.get("figures", []) if parts else None
    if not parts or not all(p is None or isinstance(p, dict) and isinstance(p.get("summary", []),
                                                                             list) for p in parts) \
            or not isinstance(figures, list) \
            or not all(isinstance(f, str) and f and Path(f).name == f for f in figures):
        raise ValueError("not the object `monorobust toy` writes")
    return doc


def load_run(run_dir: str | Path) -> RunData:
    """Read ``run_dir``; ``ConfigError`` when it does not exist or holds no result rows."""
    run_dir = Path(run_dir)
    folder = RunDir(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run folder {str(run_dir)!r} does not exist; pass the --out folder "
                          "of a `monorobust run`")
    if not (folder / RunDir.RESULTS).exists():
        raise ConfigError(f"{run_dir} has no {RunDir.RESULTS}; run `monorobust run --out "
                          f"{run_dir}` first")
    missing: list[str] = []
    config_text, cfg = _read_config(run_dir, missing)
    # In the order an uninterrupted run computes the rows: a resumed run's report is the same.
    results = folder.load_results(() if cfg is None else
                                  run_order(cfg.representations, cfg.grid, cfg.seeds))
    if results.empty:
        raise ConfigError(f"{folder / RunDir.RESULTS} holds no rows yet; wait for the run to "
                          "finish its first grid point")
    results["severity"] = results["severity"].astype(float)
    results["seed"] = results["seed"].astype(int)
    metrics = folder.load_metrics()
    if "seed" in metrics:               # null for bring-your-own arrays
        metrics["seed"] = pd.to_numeric(metrics["seed"], errors="coerce")
    if metrics.empty:
        missing.append("metrics.jsonl: no monosemanticity metrics (no metrics table or scatter)")
    order = list(cfg.representations) if cfg is not None else []
    order += [r for r in dict.fromkeys(results["representation"]) if r not in order]
    order = [r for r in order if r in set(results["representation"])]
    reps = [rep_info(r) for r in order]
    seeds = sorted(set(results["seed"]))
    if len(seeds) < 2:
        missing.append(f"only one seed ({seeds[0]}): no spread over seeds, no error bars, and "
                       "every verdict is 'cannot tell'")
    present = set(results["scenario"])
    for scen in PAPER_SCENARIOS:            # any other scenario in a run is shown generically
        if scen not in present:
            missing.append(f"scenario {scen}: no results")
    if cfg is not None:
        missing += _expected_missing(cfg, results)
    if not any(r.monosemantic for r in reps):
        missing.append("no monosemantic representation: the claims cannot be tested")
    if not any(r.monosemantic is False for r in reps):
        missing.append("no polysemantic representation: the claims cannot be tested")
    for r in reps:
        if r.monosemantic is None:
            missing.append(f"representation {r.name!r} is not registered here: shown, but left "
                           "out of the mono-vs-poly verdicts")
    feature_files = folder.feature_files(order, seeds)
    if not feature_files:
        missing.append("features/: no saved test features (no feature gallery, no per-class "
                       "purity analysis)")
    run_info = None
    try:
        run_info = folder.read_run_info()
        if run_info is None:
            missing.append("run.json: no wall time, versions or hardware (the run has not "
                           "finished)")
    except ValueError as err:           # damaged: bad JSON or bad UTF-8
        missing.append(f"run.json: damaged ({err}); delete it, a rerun of the run writes "
                       "it again")
    finetune = folder.load_finetune()
    toy = None
    if (folder.toy / "toy.json").exists():
        try:
            toy = _read_toy(folder.toy / "toy.json")
        except ValueError as err:       # damaged: bad JSON, bad UTF-8, not what `toy` writes
            missing.append(f"toy/toy.json: damaged ({err}); rerun `monorobust toy --out "
                           f"{folder.toy}` to write it again")
    return RunData(run_dir, results, summarize_results(results), metrics, reps, seeds,
                   config_text, cfg, run_info, finetune, toy, feature_files, missing)
