"""Bring your own features: metrics and label scenarios on feature arrays you already have.

    from monorobust.evaluate import evaluate_arrays
    res = evaluate_arrays(train_x, train_y, test_x, test_y, name="mine", out="runs/mine")
    res.metrics          # monosemanticity metrics of the clean test features
    res.summary          # accuracy per scenario x severity, mean and std over seeds

Each input is an array / tensor or a file path (.npy; .pt via ``torch.load(weights_only=True)``;
.safetensors). A file holding several tensors must name them "features" / "labels". The
validation split is held out of the training features (stratified, ``val_fraction``, fixed
seed 0, exactly as ``monorobust run`` holds it out of the training images); the scenarios are
those that need no encoder: clean, label_noise and few_shot.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any, NamedTuple

import torch

from monorobust.checks import check_features, check_labels
from monorobust.errors import ConfigError
from monorobust.evaluate.config import GridConfig, ProbeConfig
from monorobust.evaluate.grid import FeatureSet, evaluate_cells, grid_cells
from monorobust.io import write_json
from monorobust.evaluate.scenarios import CLEAN, SCENARIOS, Phase

ArrayLike = Any
"""A torch tensor, a NumPy array, or a path to a .npy / .pt / .safetensors file."""


class ArraysResult(NamedTuple):
    rows: list[Any]
    """``rundir.ResultRow`` per scenario x severity x seed (the run folder's results.jsonl rows)."""
    metrics: Any
    """``metrics.FeatureMetrics`` of the clean test features."""
    summary: Any
    """pandas DataFrame: representation, scenario, severity, mean, std, n, realised_noise_rate."""


def load_array(source: ArrayLike, what: str, key: str) -> torch.Tensor:
    """A tensor from an array, a tensor or a file; ``key`` picks it from a multi-tensor file."""
    if isinstance(source, torch.Tensor):
        return source.detach().cpu()
    if not isinstance(source, (str, Path)):
        try:
            import numpy as np

            return torch.from_numpy(np.ascontiguousarray(np.asarray(source)))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{what}: cannot read {type(source).__name__} as an array ({err}); "
                              "pass a tensor, a NumPy array or a file path") from None
    path = Path(source).expanduser()
    if not path.is_file():
        raise ConfigError(f"{what}: file {str(path)!r} not found; pass an existing .npy, .pt or "
                          ".safetensors file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            import numpy as np

            return torch.from_numpy(np.load(path, allow_pickle=False))
        if suffix in (".pt", ".pth"):
            import pickle
            import warnings

            try:
                with warnings.catch_warnings():      # torch's note on pickle protocols
                    warnings.simplefilter("ignore")
                    obj = torch.load(path, map_location="cpu", weights_only=True)
            except pickle.UnpicklingError:
                # Not torch's advice to load it with weights_only=False: that runs its code.
                raise ConfigError(f"{what}: {str(path)!r} holds pickled Python objects, which "
                                  "monorobust never loads (unpickling can run code); save plain "
                                  "tensors: torch.save(features_tensor, path) or np.save") from None
        elif suffix == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(path))
        else:
            raise ConfigError(f"{what}: unsupported file type {suffix!r} ({path.name}); use .npy, "
                              ".pt or .safetensors")
    except ConfigError:
        raise
    except Exception as err:  # unreadable or unsafe (pickled objects) files
        raise ConfigError(f"{what}: cannot read {str(path)!r} ({type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else ''}); save plain tensors "
                          "or arrays") from None
    return _pick(obj, what, key, path)


def _pick(obj: Any, what: str, key: str, path: Path) -> torch.Tensor:
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, dict):
        tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if key in tensors:
            return tensors[key]
        if len(tensors) == 1:
            return next(iter(tensors.values()))
        raise ConfigError(f"{what}: {path.name} holds tensors {sorted(tensors)}; name the one to "
                          f"use {key!r}, or save it alone")
    raise ConfigError(f"{what}: {path.name} holds a {type(obj).__name__}, not a tensor")


def prepare(train_features: ArrayLike, train_labels: ArrayLike, test_features: ArrayLike,
            test_labels: ArrayLike, val_fraction: float = 0.1,
            num_classes: int | None = None) -> tuple[FeatureSet, int, dict[str, str]]:
    """Load and validate the four inputs; hold the validation split out of train. Also returns
    the SHA-256 of each input as loaded (dtype, shape, bytes), which names them in ``out``."""
    from monorobust.data import stratified_split
    from monorobust.io import tensor_checksum

    x_tr = check_features(load_array(train_features, "train features", "features"), "train features")
    x_te = check_features(load_array(test_features, "test features", "features"), "test features")
    if x_tr.shape[1] != x_te.shape[1]:
        raise ConfigError(f"train features have D={x_tr.shape[1]} but test features D={x_te.shape[1]}; "
                          "extract both with the same encoder")
    y_tr = check_labels(load_array(train_labels, "train labels", "labels"), "train labels", num_classes,
                        len(x_tr))
    classes = num_classes or int(y_tr.max()) + 1
    y_te = check_labels(load_array(test_labels, "test labels", "labels"), "test labels", classes,
                        len(x_te))
    if classes < 2:
        raise ConfigError("the train labels hold a single class; a probe needs at least 2")
    if not 0 < val_fraction < 1:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction}")
    counts = torch.bincount(y_tr, minlength=classes)
    if int(counts.min()) < 2:
        raise ConfigError(f"class {int(counts.argmin())} has {int(counts.min())} training samples; "
                          "every class 0..C-1 needs at least 2 (one for validation)")
    keep, held = stratified_split(y_tr, val_fraction, seed=0)
    fs = FeatureSet(x_tr[keep], y_tr[keep], x_tr[held], y_tr[held],
                    {"clean": x_te}, {"clean": y_te})
    inputs = {"train_features": x_tr, "train_labels": y_tr, "test_features": x_te, "test_labels": y_te}
    return fs, classes, {k: tensor_checksum({k: t}) for k, t in inputs.items()}


def default_grid(num_classes: int, min_class: int) -> GridConfig:
    """The label scenarios with the severities that ``num_classes`` and the data allow."""
    limit = (num_classes - 1) / num_classes
    return GridConfig(scenarios={
        CLEAN: (0.0,),
        "label_noise": tuple(r for r in SCENARIOS.get("label_noise").defaults if r < limit),
        "few_shot": tuple(k for k in SCENARIOS.get("few_shot").defaults if k <= min_class) or (1,),
    })


def check_label_grid(grid: GridConfig, num_classes: int, min_class: int) -> None:
    for name, severities in grid.scenarios.items():
        scenario = SCENARIOS.get(name)
        if scenario.phase is Phase.TEST and name != CLEAN:
            raise ConfigError(f"scenario {name!r} perturbs test inputs and needs an encoder; use "
                              "evaluate.robustness(encode, data), or drop it from the grid")
        scenario.check(tuple(severities), num_classes, min_class)


def evaluate_arrays(train_features: ArrayLike, train_labels: ArrayLike, test_features: ArrayLike,
                    test_labels: ArrayLike, name: str = "custom", seeds: tuple[int, ...] = (0, 1, 2),
                    out: str | Path | None = None, echo: bool = False,
                    grid: GridConfig | None = None, probe: ProbeConfig | None = None,
                    val_fraction: float = 0.1, num_classes: int | None = None) -> ArraysResult:
    """Metrics and label-scenario accuracies of your features; a run-like folder in ``out``.

    Args:
        train_features, test_features: (N, D) / (M, D) arrays, tensors or files.
        train_labels, test_labels: (N,) / (M,) integer class indices 0..C-1.
        name: the representation name in every row.
        seeds: each draws its own noise, subsets and probe.
        out: folder for results.jsonl, metrics.jsonl, summary.csv, arrays-NAME.json (rows already
            there are kept and skipped, so a rerun resumes; other arrays under ``name`` and a
            ``monorobust run`` folder are refused; its lock is held); None writes nothing.
        echo: print the metrics and the accuracy table.
        grid: scenarios (clean, label_noise, few_shot); default: ``default_grid``.
        num_classes: C; default: 1 + the largest training label.
    """
    from monorobust.metrics import summarize
    from monorobust.rows import RowFile, run_grid
    from monorobust.rundir import RESULTS_FORMAT, ResultRow, RunDir, summarize_results

    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds {list(seeds)} must be a non-empty list without duplicates")
    check_name(name)
    fs, classes, sha256 = prepare(train_features, train_labels, test_features, test_labels,
                                  val_fraction, num_classes)
    min_class = int(torch.bincount(fs.train_labels, minlength=classes).min())
    grid = grid or default_grid(classes, min_class)
    probe = probe or ProbeConfig()
    check_label_grid(grid, classes, min_class)
    run = RunDir(out) if out is not None else None
    described = {"name": name, "num_classes": classes, "dims": fs.train.shape[1],
                 "n_train": len(fs.train_labels), "n_val": len(fs.val_labels),
                 "n_test": len(fs.test_labels["clean"]), "val_fraction": val_fraction,
                 "results_format": RESULTS_FORMAT, "sha256": sha256}
    with run.hold("evaluate") if run is not None else nullcontext():
        if run is not None:
            _check_out(run, described)
            # Written before any row, so that the rows of an interrupted run stay verifiable.
            write_json(run / _described_file(name), {**described, "seeds": list(seeds),
                       "grid": {k: list(v) for k, v in grid.scenarios.items()}})
        metrics = summarize(fs.test["clean"], fs.test_labels["clean"], classes)
        if run is not None and name not in {rep for rep, _ in run.metrics_done()}:
            run.append_metrics(name, None, metrics)
        rows = run_grid(run.results if run else RowFile(None, ResultRow),
                        grid_cells([name], grid, seeds),
                        lambda todo: evaluate_cells(todo, lambda seed: fs, grid, probe, classes))
        summary = summarize_results(rows)
        if run is not None:
            run.write_summary()
    if echo:
        _echo(name, metrics, summary, out)
    return ArraysResult(rows, metrics, summary)


def check_name(name: str) -> None:
    """The representation name also names ``arrays-NAME.json`` in --out: ``a/b`` made a folder
    there, ``../x`` wrote beside it, an empty or blank name a file no one could tell apart."""
    if not isinstance(name, str) or not name.strip() or name != name.strip() or \
            name in (".", "..") or any(c in name for c in "/\\") or not name.isprintable():
        raise ConfigError(f"name (--name) {name!r} must be a non-empty name without slashes, control "
                          "characters or surrounding spaces (it names arrays-NAME.json in "
                          "--out), e.g. --name my-vit")


def _described_file(name: str) -> str:
    return f"arrays-{name}.json"


def _check_out(run, described: dict[str, Any]) -> None:
    """Refuse to mix rows of different features under one name in one folder: the arrays'
    checksums must match those recorded. Rows that cannot be verified (written by a version
    that recorded no checksum) are refused too, rather than reused unchecked, and so is a run
    folder (its representations' rows are not these arrays')."""
    import json

    from monorobust.fields import config_diff

    if (run / run.CONFIG).exists():
        raise ConfigError(f"{run.root} holds a run ({run.CONFIG} of `monorobust run`), whose rows "
                          "would mix with these; evaluate writes a folder of its own: pass "
                          "another --out")
    name, fix = described["name"], "pass another --out or --name, or delete the folder"
    unverifiable = (f"{run.root} holds results for {name!r} features with no checksum of its "
                    f"arrays (written by an older version), so they cannot be checked against "
                    f"these; {fix}")
    path = run / _described_file(name)
    if not path.exists():
        if name in {rep for rep, _ in run.metrics_done()}:     # rows of an interrupted run
            raise ConfigError(unverifiable)
        return
    before = {"results_format": 1, **json.loads(path.read_text())}   # 1: not recorded yet
    if before["results_format"] != described["results_format"]:
        raise ConfigError(f"{run.root} was written with results format "
                          f"{before['results_format']}, this version writes format "
                          f"{described['results_format']} (its random draws differ); pass "
                          "another --out, or delete the folder")
    if "sha256" not in before:
        raise ConfigError(unverifiable)
    changed = config_diff({k: v for k, v in before.items() if k in described}, described)
    if changed:
        raise ConfigError(f"{run.root} holds results for other {name!r} features (differs in: "
                          f"{', '.join(changed)}); {fix}")


def _echo(name: str, metrics, summary, out: Path | None) -> None:
    from monorobust.rundir import format_results_table as format_table

    print(f"{name}: monosemanticity metrics of the clean test features")
    for key, value in metrics._asdict().items():
        print(f"  {key:22s} {value:.4f}" if isinstance(value, float) else f"  {key:22s} {value}")
    print(f"\naccuracy (%) on the test features, mean ± std over seeds\n{format_table(summary, [name])}")
    if out:
        print(f"\nwrote {out}/")
