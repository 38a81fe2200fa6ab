"""``monorobust study RUN_DIR``: when do the claims hold? Every probe protocol x data regime x
label-noise type x seed x representation, on the features of a finished run.

Nothing is pretrained: each seed's encoders are reloaded from the run's checkpoints and their
train / val / clean-test / noisy-test features extracted once, mapped by the run's fitted
post-hoc map (the SAE of ``cl+sae`` under ``posthoc/``) and cached in ``RUN_DIR/study/``, so a
rerun does not extract again. For every seed and regime the training (and validation) subset is
drawn once; the clean labels and every noise type x rate give K label vectors on that subset,
and each protocol trains its K probes together (``PROTOCOLS[p].fit``, one batched matmul). The
clean probe is also scored on the input-noise test set (a test-time point). Every
representation of a seed sees the same subsets and the same noisy labels, so mono - poly
differences pair by seed. Rows go to ``RUN_DIR/study.jsonl`` (``StudyRow``), appended as they
come; a rerun skips the cells already there.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar

import torch

from monorobust.errors import ConfigError
from monorobust.fields import AT_LEAST_1, NON_NEGATIVE, OPEN_UNIT, check_fields
from monorobust.rows import Row, RowFile, run_grid
from monorobust.rundir import RunDir
from monorobust.seeding import derive_seed

STUDY_ROWS = "study.jsonl"
CLEAN, LABEL_NOISE = "clean", "label_noise"
NO_NOISE = "none"
"""``noise_type`` of the clean and input-noise rows (their labels are clean)."""


@dataclass(frozen=True)
class StudyConfig:
    SECTION: ClassVar[str] = "study"
    """Where this config sits: errors name keys as SECTION.field."""

    protocols: tuple[str, ...] = ("val", "fixed", "standardised", "tuned-l2", "converged",
                                  "gce", "sce")
    """Probe protocols (``monorobust.evaluate.PROTOCOLS``)."""
    n_per_class: tuple[Annotated[int, NON_NEGATIVE], ...] = (50, 500, 0)
    """Data regimes: labelled training examples per class (0: all of them). The validation
    subset keeps the run's validation-to-training ratio (at least 1 per class)."""
    noise_types: tuple[str, ...] = ("symmetric", "pairflip", "instance")
    """Label-noise types (``monorobust.perturb.LABEL_NOISE_TYPES``)."""
    noise_rates: tuple[Annotated[float, OPEN_UNIT], ...] = (0.2, 0.4, 0.8)
    """Label-noise rates; a rate a type cannot reach is capped at its largest (0.45 for
    pair-flip and instance noise, whose wrong label must stay rarer than the true one)."""
    input_noise: Annotated[float, NON_NEGATIVE] = 0.3
    """Gaussian input-noise std (pixel space) of the test-time point (0: none)."""
    representations: tuple[str, ...] = ()
    """Representations to study (empty: the run's)."""
    seeds: tuple[Annotated[int, NON_NEGATIVE], ...] = ()
    """Seeds to study (empty: the run's)."""
    threads: Annotated[int, AT_LEAST_1] = 1
    """CPU threads of the study (one is fastest on a shared, loaded machine)."""

    def __post_init__(self) -> None:
        from monorobust.evaluate import PROTOCOLS
        from monorobust.perturb import LABEL_NOISE_TYPES

        check_fields(self)
        for name in self.protocols:
            PROTOCOLS.get(name)
        for name in self.noise_types:
            LABEL_NOISE_TYPES.get(name)
        for key in ("protocols", "n_per_class"):
            if not getattr(self, key):
                raise ConfigError(f"study.{key} lists nothing; give at least one")


@dataclass(frozen=True)
class StudyRow(Row):
    """One cell of the study: a probe's test accuracy under one protocol, regime and noise."""

    AXES: ClassVar[tuple[str, ...]] = ("representation", "protocol", "n_per_class", "noise_type",
                                       "scenario", "severity", "seed")

    representation: str
    protocol: str
    n_per_class: int
    """Labelled training examples per class (0: all)."""
    noise_type: str
    """Label-noise type, or "none" (clean labels: the clean and input-noise points)."""
    scenario: str
    """"clean", "label_noise" or the input-noise scenario ("gaussian_noise")."""
    severity: float
    """Label-noise rate, or input-noise std (0 for clean)."""
    seed: int
    accuracy: float
    realised_noise_rate: float
    l2: float
    """The L2 strength the probe trained with (chosen on validation by ``tuned-l2``)."""
    val_accuracy: float | None = None
    train_accuracy: float | None = None
    best_step: int | None = None
    n_train: int | None = None
    n_test: int | None = None


def capped_rates(kind: str, rates: tuple[float, ...], num_classes: int) -> list[float]:
    """The rates ``kind`` runs: each capped below the type's maximum, duplicates dropped."""
    from monorobust.perturb import LABEL_NOISE_TYPES

    top = LABEL_NOISE_TYPES.get(kind).max_rate(num_classes)
    cap = round(top - 0.05, 2)
    return sorted(dict.fromkeys(min(r, cap) for r in rates))


def label_points(cfg: StudyConfig, num_classes: int) -> list[tuple[str, str, float]]:
    """(noise_type, scenario, severity) of every label vector: clean first."""
    return [(NO_NOISE, CLEAN, 0.0)] + [(k, LABEL_NOISE, r) for k in cfg.noise_types
                                       for r in capped_rates(k, cfg.noise_rates, num_classes)]


def study_cells(cfg: StudyConfig, reps, seeds, num_classes: int) -> list[tuple]:
    """Done-keys of every cell, in the order they are computed."""
    pts = label_points(cfg, num_classes)
    if cfg.input_noise > 0:
        pts.insert(1, (NO_NOISE, "gaussian_noise", float(cfg.input_noise)))
    return [(rep, p, n, kind, scen, sev, seed) for seed in seeds for n in cfg.n_per_class
            for rep in reps for p in cfg.protocols for kind, scen, sev in pts]


@contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class StudyResult(dict):
    """``rows`` (every wanted row), ``new`` (rows computed now), ``seconds``."""


def run_study(run_dir: str | Path, cfg: StudyConfig, device: str = "cpu",
              progress: bool = True) -> StudyResult:
    """Compute the study's missing rows into ``RUN_DIR/study.jsonl`` (holding the folder's lock)."""
    from monorobust.study_data import StudyData

    started = time.perf_counter()
    folder = RunDir(run_dir)
    # One thread for everything (extraction, reference classifier, probes): on a loaded shared
    # machine a second intra-op thread mostly spin-waits.
    with folder.hold("study", create=False), _threads(cfg.threads):
        data = StudyData.open(folder, cfg, device)
        cells = study_cells(cfg, data.reps, data.seeds, data.num_classes)
        file = RowFile(folder / STUDY_ROWS, StudyRow)
        new: list[StudyRow] = []
        log = None
        if progress:
            total = len(cells) - len(file.done() & set(cells))

            def log(row):
                print(f"\r{len(new)}/{total} rows", end="", flush=True)
        rows = run_grid(file, cells, lambda todo: _compute(data, cfg, todo, new),
                        log=log)
        if progress and new:
            print()
    return StudyResult(rows=rows, new=new, seconds=time.perf_counter() - started)


def _compute(data, cfg: StudyConfig, todo: list[tuple], new: list) -> Iterator[StudyRow]:
    from monorobust.evaluate import PROTOCOLS

    wanted = set(todo)
    groups = dict.fromkeys((k[6], k[2], k[0], k[1]) for k in todo)   # seed, n, rep, protocol
    for seed, n, rep, protocol in groups:
        labels = data.labels(seed, n)                 # drawn once per seed and regime
        fs = data.features(rep, seed)
        tr, va = fs["train"][labels.train_idx], fs["val"][labels.val_idx]
        fit = PROTOCOLS.get(protocol).fit(tr, labels.train_y, va, labels.val_y,
                                          data.num_classes, data.probe_cfg, seed)
        for k, (kind, scen, sev) in enumerate(labels.points):
            tests = [(scen, sev, "test")]
            if scen == CLEAN and cfg.input_noise > 0:
                tests.append(("gaussian_noise", float(cfg.input_noise), "test_noise"))
            for scenario, severity, key in tests:
                cell = (rep, protocol, n, kind, scenario, severity, seed)
                if cell not in wanted:
                    continue
                p = fit.probes[k]
                x, y = fs[key], fs[key + "_labels"]
                row = StudyRow(rep, protocol, n, kind, scenario, severity, seed,
                               accuracy=p.accuracy(x, y),
                               realised_noise_rate=labels.realised[k], l2=float(fit.l2[k]),
                               val_accuracy=p.val_accuracy, train_accuracy=p.train_accuracy,
                               best_step=p.best_step, n_train=len(labels.train_idx),
                               n_test=len(y))
                new.append(row)
                yield row


def study_seed(seed: int, *keys) -> torch.Generator:
    """The generator of one draw of the study (regime subsets, noise)."""
    return torch.Generator().manual_seed(derive_seed(seed, "study", *keys))


def study_table(rows) -> str:
    """Mean accuracy (%) per protocol x regime x point, one column per representation."""
    from monorobust.rows import format_table, mean_std_cell, summarise

    if not rows:
        return "(no study rows)"
    s = summarise(rows, ("protocol", "n_per_class", "noise_type", "scenario", "severity",
                         "representation"), ("accuracy",))
    reps = list(dict.fromkeys(s.representation))
    cell = {tuple(r[:6]): mean_std_cell(r.accuracy_mean, r.accuracy_std)
            for r in s.itertuples(index=False)}
    keys = list(dict.fromkeys(k[:5] for k in cell))
    body = [[p, str(n or "all"), kind, scen, f"{sev:g}"] + [cell.get((p, n, kind, scen, sev, r), "-")
                                                            for r in reps]
            for p, n, kind, scen, sev in keys]
    return format_table(["protocol", "n/class", "noise", "point", "severity"] + reps, body, left=4)
