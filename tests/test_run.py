import json
import re

import pandas as pd
import pytest

from monorobust.cli import main
from monorobust.evaluate import grid_points
from monorobust.config import load_config


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    assert main(["run", "--preset", "smoke", "--out", str(out), "--quiet", "--no-report"]
                if _has_no_report() else ["run", "--preset", "smoke", "--out", str(out), "--quiet"]) == 0
    return out


def _has_no_report() -> bool:
    import argparse

    from monorobust.commands import run

    p = argparse.ArgumentParser()
    run.add_arguments(p)
    return any("--no-report" in a.option_strings for a in p._actions)


def test_smoke_run_writes_every_row_and_file(smoke_run):
    cfg = load_config(str(smoke_run / "config.yaml"))
    rows = [json.loads(line) for line in (smoke_run / "results.jsonl").read_text().splitlines()]
    expected = len(cfg.representations) * len(cfg.seeds) * len(grid_points(cfg.grid))
    assert len(rows) == expected
    keys = {(r["representation"], r["scenario"], r["severity"], r["seed"]) for r in rows}
    assert len(keys) == expected                                 # no duplicates
    clean = {(r["representation"], r["seed"]): r["accuracy"] for r in rows if r["scenario"] == "clean"}
    assert len(clean) == len(cfg.representations) * len(cfg.seeds)
    assert all(acc > 0.7 for acc in clean.values())               # chance is 0.1 on digits
    for r in rows:
        correct = r["accuracy"] * r["n_test"]                      # a share of its test images
        assert abs(correct - round(correct)) < 1e-6
        if r["scenario"] == "label_noise":
            assert abs(r["realised_noise_rate"] - r["severity"]) < 1 / r["n_train"]
            if r["severity"] >= 0.8:                               # strong noise costs accuracy
                assert r["accuracy"] < clean[r["representation"], r["seed"]] - 0.1
        if r["scenario"] == "few_shot":
            assert r["n_train"] == r["severity"] * 10
    metrics = (smoke_run / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == len(cfg.representations) * len(cfg.seeds)
    ncl = [json.loads(m) for m in metrics if json.loads(m)["representation"] == "ncl"]
    assert all(m["sparsity"] > 0 for m in ncl)                  # ReLU features have zeros
    info = json.loads((smoke_run / "run.json").read_text())
    assert info["corruption_calibration"] == "cifar-10-c"      # "auto" at the smoke's image size
    from monorobust.report.tables import provenance_table

    assert ["corruption_calibration", "cifar-10-c"] in provenance_table(info, [0]).values.tolist()
    speed = info["pretrain_images_per_second"]
    assert set(speed) == {f"{o}-seed{s}" for o in ("cl", "ncl") for s in cfg.seeds}
    assert all(rate > 0 for rate in speed.values())
    # The smoke preset's 3 epochs: a rate without the first epoch's warm-up too.
    assert set(info["pretrain_steady_images_per_second"]) == set(speed)
    assert all(rate > 0 for rate in info["pretrain_steady_images_per_second"].values())
    summary = pd.read_csv(smoke_run / "summary.csv")
    assert set(summary.columns) >= {"representation", "scenario", "severity", "mean", "std", "n"}
    assert (summary["n"] == len(cfg.seeds)).all()


def test_same_seed_gives_the_same_numbers_and_rerun_resumes(smoke_run, tmp_path, capsys):
    out = tmp_path / "again"
    assert main(["run", "--preset", "smoke", "--out", str(out), "--quiet", "--seeds", "1"]) == 0
    first = {(r["representation"], r["scenario"], r["severity"]): r["accuracy"]
             for r in map(json.loads, (smoke_run / "results.jsonl").read_text().splitlines())
             if r["seed"] == 1}
    again = {(r["representation"], r["scenario"], r["severity"]): r["accuracy"]
             for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert again == first
    before = (out / "results.jsonl").read_text()
    # A folder written before a config field existed resumes (the field compares at its default).
    saved = out / "config.yaml"
    saved.write_text("".join(line for line in saved.read_text().splitlines(keepends=True)
                             if not line.startswith("dist_timeout_minutes:")))
    assert main(["run", "--preset", "smoke", "--out", str(out), "--quiet", "--seeds", "1"]) == 0
    assert (out / "results.jsonl").read_text() == before          # nothing recomputed or doubled
    # A setting that changes the numbers is refused before any work.
    assert main(["run", "--preset", "smoke", "--out", str(out), "--quiet", "--seeds", "1",
                 "--set", "probe.lr=0.5", "--set", "pretrain.epochs=4"]) == 2
    assert "(differs in: pretrain.epochs, probe.lr)" in capsys.readouterr().err
    assert (out / "results.jsonl").read_text() == before
    # Narrowing (or extending) seeds and representations continues the run; config.yaml keeps
    # the union, which the report reads.
    assert main(["run", "--preset", "smoke", "--out", str(out), "--quiet", "--seeds", "1",
                 "--representations", "cl"]) == 0
    assert (out / "results.jsonl").read_text() == before
    recorded = load_config(str(saved))
    assert recorded.seeds == (1,) and recorded.representations == ("cl", "ncl", "cl+sae")


def test_pretrain_writes_a_run_folder_that_sae_and_more_seeds_continue(tmp_path):
    out = str(tmp_path / "pre")
    assert main(["pretrain", "--preset", "smoke", "--out", out, "--seeds", "0", "--quiet"]) == 0
    assert main(["pretrain", "--preset", "smoke", "--out", out, "--seeds", "1", "--quiet"]) == 0
    assert load_config(str(tmp_path / "pre" / "config.yaml")).seeds == (0, 1)
    assert main(["sae", out, "--seeds", "1", "--steps", "5", "--quiet"]) == 0
    assert (tmp_path / "pre" / "sae" / "sae-seed1.safetensors").is_file()
    assert main(["pretrain", "--preset", "smoke", "--out", out, "--seeds", "0", "--quiet",
                 "--set", "pretrain.lr=0.1"]) == 2                  # refused, nothing touched


def test_interrupted_grid_resumes_only_missing_rows(smoke_run, tmp_path):
    out = tmp_path / "partial"
    out.mkdir()
    lines = (smoke_run / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text("\n".join(lines[:5]) + "\n")
    import shutil

    shutil.copy(smoke_run / "config.yaml", out / "config.yaml")
    shutil.copytree(smoke_run / "checkpoints", out / "checkpoints")
    assert main(["run", "--preset", str(smoke_run / "config.yaml"), "--out", str(out), "--quiet"]) == 0
    resumed = (out / "results.jsonl").read_text().splitlines()
    assert resumed[:5] == lines[:5]                               # kept, not recomputed
    rows = [json.loads(x) for x in resumed]
    assert len(rows) == len(lines)
    assert {json.dumps(r, sort_keys=True) for r in rows} == {json.dumps(json.loads(x), sort_keys=True) for x in lines}


@pytest.mark.parametrize("key, value", [("seeds", [0, 0]), ("representations", ["cl", "ncl", "cl"])])
def test_run_refuses_a_seed_or_representation_listed_twice(key, value):
    from monorobust.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"^{key} .* contain duplicates \((0|cl)\); list each once"):
        load_config("smoke", {key: value})


@pytest.mark.parametrize("key, value", [("seeds", (0, 0)), ("representations", ("cl", "cl")),
                                        ("protocols", ("val", "gce", "val")),
                                        ("n_per_class", (50, 50)),
                                        ("noise_types", ("symmetric", "symmetric")),
                                        ("noise_rates", (0.4, 0.4))])
def test_study_refuses_an_item_listed_twice(key, value):
    from monorobust.errors import ConfigError
    from monorobust.study import StudyConfig

    with pytest.raises(ConfigError, match=rf"study\.{key} .* contain duplicates"):
        StudyConfig(**{key: value})


@pytest.mark.parametrize("scenarios, message", [
    ({}, "grid.scenarios names no scenario"),
    ({"clean": [0], "label_noise": [0.4, 0.4]}, r"grid.scenarios.label_noise \[0.4, 0.4\] contain duplicates"),
])
def test_run_refuses_an_empty_grid_or_a_severity_listed_twice(scenarios, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--preset", "smoke", "--quiet", "--no-report", "--out", str(out),
                 "--set", f"grid.scenarios={json.dumps(scenarios)}"]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not out.exists()                                     # refused before any work


def test_summary_csv_does_not_depend_on_the_order_rows_were_appended(smoke_run, tmp_path):
    import random
    import shutil

    out = tmp_path / "shuffled"
    shutil.copytree(smoke_run, out)
    lines = (smoke_run / "results.jsonl").read_text().splitlines(keepends=True)
    random.Random(0).shuffle(lines)                   # as a resumed run may have appended them
    (out / "results.jsonl").write_text("".join(lines))
    assert main(["run", "--preset", "smoke", "--out", str(out), "--quiet", "--no-report"]) == 0
    assert (out / "summary.csv").read_bytes() == (smoke_run / "summary.csv").read_bytes()
    from monorobust.report.load import load_run                # and the report's tables

    shuffled, straight = load_run(out), load_run(smoke_run)
    assert shuffled.summary.equals(straight.summary)
    assert shuffled.results.reset_index(drop=True).equals(straight.results.reset_index(drop=True))


def test_the_table_header_counts_the_seeds_of_the_folder_not_of_the_command(smoke_run, tmp_path, capsys):
    import shutil

    out = tmp_path / "more"
    shutil.copytree(smoke_run, out)                   # seeds 0 and 1
    assert main(["run", "--preset", "smoke", "--out", str(out), "--quiet", "--no-report",
                 "--seeds", "1"]) == 0
    assert "mean ± std over 2 seeds" in capsys.readouterr().out
