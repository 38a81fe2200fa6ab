"""The run folder object, the shared grid mechanism (rows) and derive_seed, at unit scale."""

import json
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from monorobust.errors import ConfigError
from monorobust.rows import Row, RowFile, format_table, mean_std_cell, run_grid, summarise
from monorobust.rundir import RESULTS_FORMAT, ResultRow, RunDir, summarize_results
from monorobust.seeding import derive_seed


@dataclass(frozen=True)
class Cell(Row):
    AXES: ClassVar[tuple[str, ...]] = ("point", "seed")
    point: str
    seed: int
    acc: float
    note: str | None = None


def _row(rep="cl", scen="clean", sev=0.0, seed=0, acc=0.5) -> ResultRow:
    return ResultRow(rep, scen, sev, "noise rate", seed, acc, 0.0, (acc, acc), 0.9, 0.8, 10, 100, 50)


def test_result_row_is_written_as_the_documented_json_object(tmp_path):
    run = RunDir(tmp_path)
    run.results.append(_row())
    line = json.loads((tmp_path / "results.jsonl").read_text())
    assert line == {"representation": "cl", "scenario": "clean", "severity": 0.0,
                    "severity_name": "noise rate", "seed": 0, "accuracy": 0.5,
                    "realised_noise_rate": 0.0, "per_class_accuracy": [0.5, 0.5],
                    "train_accuracy": 0.9, "val_accuracy": 0.8, "best_step": 10, "n_train": 100,
                    "n_test": 50}
    back = run.results.rows()[0]
    assert back == _row() and back["accuracy"] == 0.5 and back.key() == ("cl", "clean", 0.0, 0)


def test_rows_from_older_files_coerce_types_and_ignore_unknown_keys(tmp_path):
    (tmp_path / "r.jsonl").write_text('{"point": "a", "seed": 1.0, "acc": 1, "extra": 3}\n')
    row = RowFile(tmp_path / "r.jsonl", Cell).rows()[0]
    assert row == Cell("a", 1, 1.0) and isinstance(row.acc, float) and isinstance(row.seed, int)
    assert Cell("a", 1, 1.0).to_json() == {"point": "a", "seed": 1, "acc": 1.0}   # None omitted
    with pytest.raises(KeyError):
        row["extra"]


def test_run_grid_computes_only_missing_cells_and_returns_them_in_wanted_order(tmp_path):
    rows = RowFile(tmp_path / "r.jsonl", Cell)
    rows.append(Cell("b", 0, 0.2))
    asked = []

    def compute(todo):
        asked.append(list(todo))
        for point, seed in reversed(todo):          # any order
            yield Cell(point, seed, 0.1)

    wanted = [("a", 0), ("b", 0), ("a", 1)]
    got = run_grid(rows, wanted, compute)
    assert asked == [[("a", 0), ("a", 1)]]
    assert [r.key() for r in got] == wanted and got[1].acc == 0.2
    assert run_grid(rows, wanted, compute) == got and asked[-1] == []     # nothing redone
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 3


def test_row_file_filter_keeps_other_rows_but_does_not_count_them(tmp_path):
    RowFile(tmp_path / "r.jsonl", Cell).append(Cell("a", 0, 0.5, note="old"))
    mine = RowFile(tmp_path / "r.jsonl", Cell, where=lambda r: r.note == "new")
    assert mine.done() == set()
    run_grid(mine, [("a", 0)], lambda todo: [Cell(*k, 0.7, note="new") for k in todo])
    assert [r.acc for r in mine.rows()] == [0.7]
    assert len(RowFile(tmp_path / "r.jsonl", Cell).rows()) == 2


def test_summarise_mean_std_n_and_tables():
    rows = [Cell("a", 0, 0.5), Cell("a", 1, 0.7), Cell("b", 0, 0.9)]
    s = summarise(rows, ["point"], ["acc"])
    assert list(s.columns) == ["point", "n", "acc_mean", "acc_std"]
    assert s.n.tolist() == [2, 1] and s.acc_mean[0] == pytest.approx(0.6)
    assert s.acc_std[0] == pytest.approx(math.sqrt(0.02)) and math.isnan(s.acc_std[1])
    assert mean_std_cell(0.6, 0.1414) == "60.0 ± 14.1" and mean_std_cell(0.9, float("nan")) == "90.0"
    assert mean_std_cell(float("nan"), float("nan")) == "-"
    table = format_table(["point", "acc"], [["a", "60.0"], ["bb", "9.0"]], left=1)
    assert table.splitlines() == ["point   acc", "-----  ----", "a      60.0", "bb      9.0"]


def test_summarize_results_has_the_summary_csv_columns():
    s = summarize_results([_row(seed=0, acc=0.4), _row(seed=1, acc=0.6)])
    assert list(s.columns) == ["representation", "scenario", "severity", "mean", "std", "n",
                               "realised_noise_rate"]
    assert s.iloc[0]["mean"] == pytest.approx(0.5) and s.iloc[0]["n"] == 2
    assert list(summarize_results([]).columns) == list(s.columns)


def test_run_dir_owns_every_path(tmp_path):
    run = RunDir(tmp_path)
    assert run.checkpoints("ncl", 2) == tmp_path / "checkpoints" / "ncl-seed2"
    assert run.features("cl+sae", 1) == tmp_path / "features" / "cl+sae-seed1-test.safetensors"
    assert run.posthoc("cl+sae", 0) == tmp_path / "posthoc" / "cl+sae-seed0"
    assert run.sae == tmp_path / "sae" and run.lock.name == ".lock"


def test_claim_records_the_format_and_refuses_other_formats_and_configs(tmp_path):
    from monorobust.config import load_config

    cfg = load_config("smoke", {"out": str(tmp_path)})
    run = RunDir(tmp_path)
    assert run.claim(cfg) is cfg                         # empty folder
    run.write_config(cfg)
    assert run.results_format() == RESULTS_FORMAT
    assert run.read_config(type(cfg)) == cfg
    assert load_config(str(tmp_path / "config.yaml")) == cfg    # usable as --preset FILE
    more = load_config("smoke", {"out": str(tmp_path), "seeds": [5]})
    assert run.claim(more, extend=("seeds",)).seeds == (0, 1, 5)
    other = load_config("smoke", {"out": str(tmp_path), "probe.lr": 0.5})
    with pytest.raises(ConfigError, match=r"differs in: probe\.lr\); it was made with "
                       rf"probe\.lr={cfg.probe.lr}: to continue it give the same"):
        run.claim(other)
    text = (tmp_path / "config.yaml").read_text()
    (tmp_path / "config.yaml").write_text(text.replace(f"results_format: {RESULTS_FORMAT}\n", ""))
    if RESULTS_FORMAT != 1:                     # a folder from before the format was recorded
        with pytest.raises(ConfigError, match="results format 1.*new --out, or delete"):
            run.claim(cfg)


def test_run_info_records_the_format_and_reports_damage(tmp_path):
    run = RunDir(tmp_path)
    assert run.read_run_info() is None
    run.write_run_info({"seconds": 1.0})
    assert run.read_run_info() == {"seconds": 1.0, "results_format": RESULTS_FORMAT}
    (tmp_path / "run.json").write_text("[1, 2]")
    with pytest.raises(ValueError):
        run.read_run_info()


def test_derive_seed_is_stable_distinct_and_keeps_integer_keys_as_seedsequence():
    assert derive_seed(0, "label_noise", 0.4) == derive_seed(0, "label_noise", 0.40)
    seeds = {derive_seed(s, name, sev) for s in range(3) for name in ("label_noise", "few_shot")
             for sev in (0.2, 0.4, 1.0, 5.0)}
    assert len(seeds) == 24 and all(0 <= s < 2**63 for s in seeds)
    legacy = int(np.random.SeedSequence([3, 7]).generate_state(1, dtype=np.uint64)[0] >> 1)
    assert derive_seed(3, 7) == legacy                 # the pretraining order of earlier versions
    assert derive_seed(0, 10_000) != derive_seed(10_000, 0)
    with pytest.raises(TypeError):
        derive_seed(0, None)


def test_arrays_folder_of_an_older_results_format_is_refused(tmp_path):
    import torch

    from monorobust.evaluate import GridConfig, ProbeConfig, evaluate_arrays

    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(60, 4, generator=gen), torch.arange(60) % 3
    args = dict(name="px", seeds=(0,), out=tmp_path, grid=GridConfig(scenarios={"clean": (0,)}),
                probe=ProbeConfig(steps=5, eval_every=5))
    evaluate_arrays(x, y, x, y, **args)
    described = json.loads((tmp_path / "arrays-px.json").read_text())
    assert described["results_format"] == RESULTS_FORMAT
    del described["results_format"]                       # as written before it was recorded
    (tmp_path / "arrays-px.json").write_text(json.dumps(described))
    if RESULTS_FORMAT != 1:
        with pytest.raises(ConfigError, match="results format 1.*another --out"):
            evaluate_arrays(x, y, x, y, **args)


def _evaluate_argv(tmp_path, out) -> list[str]:
    x, y = tmp_path / "x.npy", tmp_path / "y.npy"
    np.save(x, np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32))
    np.save(y, np.arange(40) % 4)
    return ["evaluate", "--train-features", str(x), "--train-labels", str(y), "--test-features",
            str(x), "--test-labels", str(y), "--seeds", "0", "--out", str(out)]


@pytest.mark.parametrize("command", ["run", "pretrain", "evaluate", "evaluate-into-the-file"])
def test_an_output_folder_under_a_file_is_one_error_line(command, tmp_path, capsys):
    from monorobust.cli import main

    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    out = afile if command == "evaluate-into-the-file" else afile / "sub"
    argv = (_evaluate_argv(tmp_path, out) if command.startswith("evaluate") else
            [command, "--preset", "smoke", "--seeds", "0", "--quiet", "--out", str(out)])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: cannot write in the folder {out}: {afile} is a file, not a folder; "
                   "pass a folder you can write to (--out), or copy a finished run to one")
    assert afile.read_text() == "not a folder"


@pytest.mark.parametrize("command", ["run", "report", "study"])
def test_a_read_only_folder_is_one_error_line(command, tmp_path, monkeypatch, capsys):
    import errno
    import os

    from monorobust.cli import main

    real_open = os.open

    def read_only(path, *args, **kwargs):
        if str(path).startswith(str(tmp_path)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    argv = {"run": ["run", "--preset", "smoke", "--seeds", "0", "--quiet", "--out", str(tmp_path)],
            "report": ["report", str(tmp_path)], "study": ["study", str(tmp_path), "--quiet"]}
    assert main(argv[command]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: cannot write in the folder {tmp_path}: Read-only file system;")
    assert list(tmp_path.iterdir()) == []


def test_an_atomic_write_into_a_read_only_folder_names_it(tmp_path, monkeypatch):
    import errno
    import tempfile

    from monorobust.io import atomic_write_text

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(ConfigError, match=f"cannot write in the folder {tmp_path}: Read-only"):
        atomic_write_text(tmp_path / "summary.csv", "x")


@pytest.mark.parametrize("computed", ["results.jsonl", "metrics.jsonl", "checkpoints"])
def test_a_folder_with_results_but_no_config_yaml_is_refused(computed, tmp_path):
    from monorobust.config import load_config

    if computed == "checkpoints":
        (tmp_path / computed).mkdir()
    else:
        (tmp_path / computed).write_text("")
    with pytest.raises(ConfigError, match=f"holds {computed} but no config.yaml.*restore config.yaml, "
                                          "or pass a new --out"):
        RunDir(tmp_path).claim(load_config("smoke", {"out": str(tmp_path)}))


def test_a_folder_that_holds_no_run_is_refused_and_left_as_it_was(tmp_path, capsys):
    from monorobust.cli import main
    from monorobust.config import load_config

    (tmp_path / "notes.txt").write_text("mine")
    cfg = load_config("smoke", {"out": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"is not empty and holds no run \(it holds notes.txt\)"):
        RunDir(tmp_path).claim(cfg)
    assert main(["run", "--preset", "smoke", "--seeds", "0", "--quiet", "--out", str(tmp_path)]) == 2
    assert "holds no run" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]           # not even a lock file
    for name in ("toy", "sae", "figures", ".lock", ".config.yaml.x1.tmp"):  # what monorobust writes
        (tmp_path / name).mkdir()
    (tmp_path / "notes.txt").unlink()
    assert RunDir(tmp_path).claim(cfg) is cfg


@pytest.mark.parametrize("edit, message", [
    ((f"results_format: {RESULTS_FORMAT}", "results_format: abc"),
     rf"config.yaml: results_format must be a whole number \(this version writes "
     rf"{RESULTS_FORMAT}\), got 'abc'"),
    (("  lr: 0.002", "  lr: fast"),
     r"config.yaml is not a config this version reads \(pretrain.lr must be float, got 'fast'\)"),
    (("seeds:\n", "seeds: [\n"),
     r"config.yaml is not valid YAML \(expected the node content, but found '-' at line \d+, "
     r"column 1\); fix it$"),
    (("probe:\n", "seeds: [3]\nprobe:\n"),
     r"config.yaml is not valid YAML \(the key 'seeds' is given twice at line \d+"),
])
def test_a_hand_edited_config_yaml_is_one_line_naming_the_file(edit, message, tmp_path):
    """Every command that reads a run's config.yaml (study, sae, run) names the file on one
    line: a results_format that is not a number was a ValueError traceback, a wrong value was
    the bare key without the file (study, sae), a YAML error spread over five lines, and a key
    given twice silently took the last value."""
    from monorobust.config import RunConfig, load_config

    run = RunDir(tmp_path)
    run.write_config(load_config("smoke", {"out": str(tmp_path)}))
    path = tmp_path / "config.yaml"
    text = path.read_text()
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1], 1))
    if "results_format" in message:               # only the format check reads that key
        reads = [run.check_format]
    elif "pretrain.lr" in message:                # a preset file's wrong value names its key
        reads = [lambda: run.read_config(RunConfig)]
    else:                                         # YAML errors: as a preset file too
        reads = [lambda: run.read_config(RunConfig), run.check_format, lambda: load_config(str(path))]
    for read in reads:
        with pytest.raises(ConfigError, match=message) as info:
            read()
        assert "\n" not in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("key, value", [("seconds", "slow"), ("pretrain_images_per_second", 5),
                                        ("pretrain_processes", "one"), ("versions", [1]),
                                        ("phase_seconds", {"grid": "fast"}),
                                        ("pretrain_steady_images_per_second", {"cl-seed0": "x"})])
def test_run_json_with_a_field_of_the_wrong_type_is_damaged(key, value, tmp_path):
    """The report failed on "seconds": "slow" with a format-code traceback, and the report and
    a rerun on "pretrain_images_per_second": 5 with a TypeError; such a file is now damaged
    (the report notes it, a rerun writes it anew)."""
    from monorobust.report.tables import provenance_table

    run = RunDir(tmp_path)
    run.write_run_info({"seconds": 4.5, "pretrain_processes": 1, "versions": {"torch": "x"},
                        "pretrain_images_per_second": {"cl-seed0": 100.0},
                        "pretrain_steady_images_per_second": {"cl-seed0": 120.0},
                        "phase_seconds": {"grid": 1.0}})
    table = provenance_table(run.read_run_info(), [0])
    assert ["pretraining cl-seed0", "100 images/s (120 after the first epoch)"] in \
        table.values.tolist()
    info = json.loads((tmp_path / "run.json").read_text())
    (tmp_path / "run.json").write_text(json.dumps({**info, key: value}))
    with pytest.raises(ValueError, match=f"its '{key}' is"):
        run.read_run_info()


@pytest.mark.parametrize("edit, key", [({"topk_purity": "high"}, "topk_purity"),
                                       ({"representation": 3}, "representation"),
                                       ({"seed": "0"}, "seed")])
def test_a_metrics_row_edited_by_hand_is_an_error_naming_its_line(edit, key, tmp_path):
    """The report drew metrics.jsonl unchecked: "topk_purity": "high" was a TypeError
    traceback from matplotlib."""
    good = {"representation": "cl", "seed": 0, "topk_purity": 0.4, "sparsity": None}
    (tmp_path / "metrics.jsonl").write_text(json.dumps(good) + "\n" + json.dumps({**good, **edit})
                                            + "\n" + json.dumps(good) + "\n")
    with pytest.raises(ConfigError, match=rf"metrics.jsonl line 2 has a value of the wrong type in "
                                          rf"{key} \(edited by hand\?\)"):
        RunDir(tmp_path).load_metrics()
    (tmp_path / "metrics.jsonl").write_text(json.dumps(good) + "\n")
    assert RunDir(tmp_path).load_metrics()["topk_purity"].tolist() == [0.4]
