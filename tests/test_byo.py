"""Bring your own features: same numbers as the built-in path, clear errors for bad input."""

import json

import numpy as np
import pytest
import torch

from monorobust.data import load_dataset, make_splits
from monorobust.errors import ConfigError
from monorobust.evaluate import GridConfig, ProbeConfig, evaluate_arrays, feature_metrics, robustness
from monorobust.evaluate.arrays import load_array

PROBE = ProbeConfig(steps=40, eval_every=20, lr=0.01)
GRID = GridConfig(scenarios={"clean": (0,), "label_noise": (0.4,), "few_shot": (3,)})



def pixels(x: torch.Tensor) -> torch.Tensor:
    """An encoder whose output does not depend on how rows are batched: flattened pixels."""
    return x.flatten(1)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def arrays(ds):
    f = lambda split: (split.images.float() / 255).flatten(1)            # noqa: E731
    return f(ds.train), ds.train.labels, f(ds.test), ds.test.labels


def test_same_metrics_and_accuracies_as_the_builtin_path(digits, tmp_path):
    splits = make_splits(digits, 0.1)
    builtin = robustness(pixels, splits, name="px", grid=GRID, probe=PROBE, seeds=(0, 1))
    builtin_metrics = feature_metrics(pixels, splits)
    res = evaluate_arrays(*arrays(digits), name="px", seeds=(0, 1), grid=GRID, probe=PROBE,
                          out=tmp_path)
    assert res.metrics == builtin_metrics
    key = lambda r: (r["scenario"], r["severity"], r["seed"])            # noqa: E731
    ours = {key(r): r for r in res.rows}
    assert set(ours) == {key(r) for r in builtin}
    for r in builtin:
        o = ours[key(r)]
        for field in ("accuracy", "train_accuracy", "val_accuracy", "realised_noise_rate", "n_train"):
            assert o[field] == r[field], (key(r), field)
    # a run-like folder: rows, metrics, summary
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 6
    assert json.loads((tmp_path / "metrics.jsonl").read_text())["representation"] == "px"
    assert "label_noise" in (tmp_path / "summary.csv").read_text()


def test_rerun_resumes_and_other_features_are_refused(digits, tmp_path):
    x, y, xt, yt = arrays(digits)
    evaluate_arrays(x, y, xt, yt, name="px", seeds=(0,), grid=GRID, probe=PROBE, out=tmp_path)
    again = evaluate_arrays(x, y, xt, yt, name="px", seeds=(0,), grid=GRID, probe=PROBE, out=tmp_path)
    assert len(again.rows) == 3
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 3
    with pytest.raises(ConfigError, match="other 'px' features"):
        evaluate_arrays(x[:, :10], y, xt[:, :10], yt, name="px", seeds=(0,), grid=GRID,
                        probe=PROBE, out=tmp_path)


def test_files_npy_pt_safetensors(digits, tmp_path):
    from safetensors.torch import save_file

    x, y, xt, yt = arrays(digits)
    np.save(tmp_path / "x.npy", x.numpy())
    torch.save({"labels": y, "other": torch.zeros(3)}, tmp_path / "y.pt")
    save_file({"features": xt.contiguous()}, str(tmp_path / "xt.safetensors"))
    torch.save(yt, tmp_path / "yt.pt")
    from_files = evaluate_arrays(tmp_path / "x.npy", tmp_path / "y.pt", tmp_path / "xt.safetensors",
                                 str(tmp_path / "yt.pt"), seeds=(0,), grid=GRID, probe=PROBE)
    direct = evaluate_arrays(x.numpy(), y.numpy(), xt, yt, seeds=(0,), grid=GRID, probe=PROBE)
    assert [r["accuracy"] for r in from_files.rows] == [r["accuracy"] for r in direct.rows]


def test_default_grid_fits_the_classes():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(60, 5, generator=g), torch.arange(60) % 2
    res = evaluate_arrays(x, y, x[:20], y[:20], seeds=(0,), probe=PROBE)
    sev = {(r["scenario"], r["severity"]) for r in res.rows}
    assert ("label_noise", 0.4) in sev and ("label_noise", 0.6) not in sev    # 2 classes: < 0.5
    assert ("few_shot", 10.0) in sev and ("few_shot", 50.0) not in sev        # 27 per class


def _bad(**change):
    g = torch.Generator().manual_seed(0)
    args = {"train_features": torch.randn(40, 6, generator=g), "train_labels": torch.arange(40) % 4,
            "test_features": torch.randn(12, 6, generator=g), "test_labels": torch.arange(12) % 4}
    args.update(change)
    return args


@pytest.mark.parametrize("change, message", [
    ({"train_features": torch.full((40, 6), float("nan"))}, "NaN or inf"),
    ({"test_features": torch.tensor([[float("inf")] * 6] * 12)}, "test features contains NaN or inf"),
    ({"train_labels": torch.arange(39) % 4}, "39 labels but there are 40 samples"),
    ({"test_labels": torch.arange(12) % 5}, "out of range for 4 classes"),
    ({"test_labels": torch.arange(12) - 1}, "negative labels"),
    ({"train_labels": (torch.arange(40) % 4) + 0.5}, "non-integer"),
    ({"test_features": torch.randn(12, 7)}, "D=6 but test features D=7"),
    ({"train_features": torch.randn(40)}, r"\(N, D\) matrix"),
    ({"train_labels": torch.zeros(40, 2)}, "1-D array"),
    ({"train_features": "/nonexistent/x.npy"}, "not found"),
    ({"train_features": "features.csv"}, "not found"),
])
def test_bad_input_raises_one_clear_error(change, message):
    with pytest.raises(ConfigError, match=message) as err:
        evaluate_arrays(**_bad(**change), seeds=(0,), probe=PROBE)
    assert "\n" not in str(err.value)


def test_bad_grid_and_suffix(tmp_path):
    with pytest.raises(ConfigError, match="needs an encoder"):
        evaluate_arrays(**_bad(), grid=GridConfig(scenarios={"gaussian_noise": (0.1,)}), probe=PROBE)
    (tmp_path / "x.csv").write_text("1,2\n")
    with pytest.raises(ConfigError, match="unsupported file type"):
        load_array(tmp_path / "x.csv", "train features", "features")
    torch.save({"a": torch.zeros(2), "b": torch.zeros(2)}, tmp_path / "two.pt")
    with pytest.raises(ConfigError, match="name the one"):
        load_array(tmp_path / "two.pt", "train features", "features")


def test_cli_prints_one_error_line(tmp_path, capsys):
    from monorobust.cli import main

    np.save(tmp_path / "x.npy", np.full((10, 3), np.nan, dtype=np.float32))
    np.save(tmp_path / "y.npy", np.arange(10) % 2)
    code = main(["evaluate", "--train-features", str(tmp_path / "x.npy"), "--train-labels",
                 str(tmp_path / "y.npy"), "--test-features", str(tmp_path / "x.npy"),
                 "--test-labels", str(tmp_path / "y.npy")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0 and err.startswith("error: ") and "NaN or inf" in err


@pytest.mark.parametrize("which", ["train_features", "train_labels", "test_features", "test_labels"])
def test_other_arrays_of_the_same_shapes_are_refused(digits, tmp_path, which):
    x, y, xt, yt = arrays(digits)
    evaluate_arrays(x, y, xt, yt, name="px", seeds=(0,), grid=GRID, probe=PROBE, out=tmp_path)
    other = dict(zip(["train_features", "train_labels", "test_features", "test_labels"],
                     [x, y, xt, yt]))
    other[which] = 2 * other[which] if "features" in which else other[which].flip(0)
    before = (tmp_path / "results.jsonl").read_text()
    with pytest.raises(ConfigError, match=rf"other 'px' features \(differs in: sha256\.{which}\); "
                                          "pass another --out or --name"):
        evaluate_arrays(*other.values(), name="px", seeds=(0,), grid=GRID, probe=PROBE, out=tmp_path)
    assert (tmp_path / "results.jsonl").read_text() == before


def test_rows_without_a_checksum_are_refused(digits, tmp_path):
    x, y, xt, yt = arrays(digits)
    evaluate_arrays(x, y, xt, yt, name="px", seeds=(0,), grid=GRID, probe=PROBE, out=tmp_path)
    sidecar = tmp_path / "arrays-px.json"
    old = json.loads(sidecar.read_text())
    del old["sha256"]                                     # as an older version wrote it
    sidecar.write_text(json.dumps(old))
    with pytest.raises(ConfigError, match="no checksum of its arrays.*pass another --out or --name"):
        evaluate_arrays(x, y, xt, yt, name="px", seeds=(0,), grid=GRID, probe=PROBE, out=tmp_path)
    sidecar.unlink()                                      # rows of an interrupted older run
    with pytest.raises(ConfigError, match="no checksum of its arrays"):
        evaluate_arrays(x, y, xt, yt, name="px", seeds=(0,), grid=GRID, probe=PROBE, out=tmp_path)


def test_evaluate_refuses_a_run_folder_and_a_held_one(tmp_path):
    from monorobust.config import load_config
    from monorobust.rundir import RunDir

    run, held = RunDir(tmp_path / "run"), RunDir(tmp_path / "held")
    run.root.mkdir()
    run.write_config(load_config("smoke"))
    with pytest.raises(ConfigError, match="holds a run .*monorobust run.*pass another --out"):
        evaluate_arrays(**_bad(), seeds=(0,), probe=PROBE, out=run.root)
    assert not (run / "results.jsonl").exists() and not (run / "arrays-custom.json").exists()
    with held.hold("run"), pytest.raises(ConfigError, match="is in use by process"):
        evaluate_arrays(**_bad(), seeds=(0,), probe=PROBE, out=held.root)
    assert not (held / "results.jsonl").exists()


def test_arrays_dataset_refuses_a_npy_before_any_work(tmp_path, capsys):
    from monorobust.cli import main

    np.save(tmp_path / "x.npy", np.zeros((10, 8, 8), np.uint8))
    code = main(["run", "--preset", "smoke", "--dataset", "arrays", "--data-dir",
                 str(tmp_path / "x.npy"), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "not an .npz" in err and "x_train, y_train, x_test, y_test" in err
    assert not (tmp_path / "out").exists()


def test_a_pt_file_of_pickled_objects_is_refused_without_running_it(tmp_path):
    """The error relayed torch's advice to load it with weights_only=False (which runs its
    code), under a warning about pickle protocols."""
    import pickle
    import warnings

    class Runs:
        def __reduce__(self):
            return (open, (str(tmp_path / "ran"), "w"))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps(Runs()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ConfigError, match=r"evil.pt' holds pickled Python objects, which "
                                              r"monorobust never loads") as err:
            load_array(tmp_path / "evil.pt", "train features", "features")
    assert "weights_only" not in str(err.value) and not (tmp_path / "ran").exists()
