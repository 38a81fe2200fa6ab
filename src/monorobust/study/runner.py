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
from pathlib import Path

import torch

from monorobust.evaluate.scenarios import CLEAN
from monorobust.rows import RowFile, run_grid
from monorobust.rundir import RunDir, StudyRow
from monorobust.study.config import StudyConfig, study_cells
from monorobust.study.data import StudyData

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
    started = time.perf_counter()
    folder = RunDir(run_dir)
    # One thread for everything (extraction, reference classifier, probes): on a loaded shared
    # machine a second intra-op thread mostly spin-waits.
    with folder.hold("study", create=False), _threads(cfg.threads or torch.get_num_threads()):
        data = StudyData.open(folder, cfg, device)
        cells = study_cells(cfg, data.reps, data.seeds, data.num_classes)
        file = RowFile(folder / RunDir.STUDY, StudyRow)
        new: list[StudyRow] = []
        total = len(cells) - len(file.done() & set(cells))

        def log(row):
            print(f"\r{len(new)}/{total} rows", end="", flush=True)

        rows = run_grid(file, cells, lambda todo: _compute(data, cfg, todo, new),
                        log=log if progress else None)
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
    body = [[p, str(n or "all"), kind, scen, f"{sev:g}"]
            + [cell.get((p, n, kind, scen, sev, r), "-") for r in reps]
            for p, n, kind, scen, sev in keys]
    return format_table(["protocol", "n/class", "noise", "point", "severity"] + reps, body, left=4)
