"""Bad input, as a careful user gives it, across every subcommand and the public Python API.

Every case must end in exit status 2 (or a ``ConfigError`` from Python), with one line that
begins ``error:`` and names the key, flag, argument or file at fault, no traceback, and no new
result, checkpoint or config file in the output folder.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from monorobust import evaluate, metrics, perturb
from monorobust.cli import main
from monorobust.config import dump_yaml, load_config
from monorobust.rundir import RunDir
from monorobust.data import ImageDataset, ImageSplit
from monorobust.errors import ConfigError
from monorobust.evaluate.config import GridConfig, ProbeConfig


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """A folder of files the cases point at: good and bad arrays, broken presets, run folders."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(size=(40, 6)).astype(np.float32))
    np.save(tmp_path / "y.npy", np.arange(40) % 4)
    np.save(tmp_path / "y39.npy", np.arange(39) % 4)
    nan = rng.normal(size=(40, 6)).astype(np.float32)
    nan[3, 2] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    (tmp_path / "list.yaml").write_text("- [1, 2]\n")
    (tmp_path / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "empty").mkdir()
    (tmp_path / "binary-run").mkdir()
    (tmp_path / "binary-run" / "config.yaml").write_bytes(os.urandom(512))
    (tmp_path / "other-run").mkdir()
    other = load_config("smoke", {"pretrain.epochs": 7, "out": str(tmp_path / "other-run")})
    RunDir(tmp_path / "other-run").write_config(other)
    (tmp_path / "old-run").mkdir()             # written before the results format was recorded
    (tmp_path / "old-run" / "config.yaml").write_text(dump_yaml(load_config("smoke")))
    (tmp_path / "damaged-run").mkdir()
    (tmp_path / "damaged-run" / "config.yaml").write_text(dump_yaml(load_config("smoke")))
    (tmp_path / "damaged-run" / "results.jsonl").write_text('{"a": 1}\n{"a": \n{"a": 3}\n')
    (tmp_path / "edited-run").mkdir()          # valid JSON, but not a row: edited by hand
    RunDir(tmp_path / "edited-run").write_config(
        load_config("smoke", {"out": str(tmp_path / "edited-run")}))
    row = {"representation": "cl", "scenario": "clean", "severity": 0, "severity_name": "none",
           "seed": 0, "accuracy": 0.9, "realised_noise_rate": 0.0}
    (tmp_path / "edited-run" / "results.jsonl").write_text(
        json.dumps(row) + "\n" + json.dumps({**row, "seed": 1, "accuracy": "high"}) + "\n")
    shutil.copytree(tmp_path / "edited-run", tmp_path / "edited-study")
    (tmp_path / "edited-study" / "results.jsonl").write_text(json.dumps(row) + "\n")
    study = {"representation": "cl", "protocol": "val", "n_per_class": 0, "noise_type": "none",
             "scenario": "clean", "severity": 0.0, "seed": 0, "accuracy": 0.9,
             "realised_noise_rate": 0.0}                        # no "l2"
    (tmp_path / "edited-study" / "study.jsonl").write_text(json.dumps(study) + "\n")
    fmnist = tmp_path / "fmnist"
    fmnist.mkdir()
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (fmnist / f"{stem}.gz").write_bytes(b"this is not gzip data")
    return tmp_path


RUN = ["run", "--preset", "smoke", "--quiet", "--no-report", "--out", "{out}"]
EVAL = ["evaluate", "--out", "{out}", "--train-features", "{d}/x.npy", "--train-labels", "{d}/y.npy",
        "--test-features", "{d}/x.npy", "--test-labels", "{d}/y.npy"]
FINETUNE = ["finetune", "--preset", "smoke", "--quiet", "--out", "{out}"]
SAE = ["sae", "--out", "{out}"]

# (command line with {d} for the inputs folder and {out} for the output folder, text the error
# line must contain). The first group are the cases a new user hit; the rest their neighbours.
CLI_CASES = [
    (RUN + ["--set", "probe.lr=.inf"], "probe.lr must be a finite number"),
    (RUN + ["--set", "sae.aux_weight=.nan"], "sae.aux_weight must be a finite number"),
    (RUN + ["--set", "pretrain.lr=.nan"], "pretrain.lr must be a finite number"),
    (RUN + ["--set", "pretrain.temperature=.nan"], "pretrain.temperature"),
    (RUN + ["--set", "pretrain.weight_decay=-5"], "pretrain.weight_decay must be >= 0"),
    (RUN + ["--seeds", "-3"], "--seeds"),
    (RUN + ["--preset", "{d}/list.yaml"], "list.yaml"),
    (RUN + ["--preset", "{d}/binary.yaml"], "binary.yaml"),
    (RUN + ["--preset", "{d}/missing.yaml"], "missing.yaml"),
    (RUN + ["--device", "tpu"], "device 'tpu'"),
    (["run", "--preset", "smoke", "--quiet", "--out", "{d}/afile"], "afile"),
    (RUN + ["--dataset", "digits", "--data-dir", "{d}/empty"], "--data-dir"),
    (RUN + ["--dataset", "fashion-mnist", "--data-dir", "{d}/fmnist"], "fmnist/"),
    (["run", "--preset", "smoke", "--quiet", "--out", "{d}/binary-run"], "config.yaml"),
    (["run", "--preset", "smoke", "--quiet", "--out", "{d}/other-run"], "differs in: pretrain.epochs"),
    (["run", "--preset", "smoke", "--quiet", "--out", "{d}/old-run"], "results format 1"),
    (RUN + ["--set", "pretrain.bogus=1"], "unknown config key 'pretrain.bogus'"),
    (RUN + ["--set", "grid.scenarios.label_noise=[0.5, 1.0]"], "label-noise rate 1.0"),
    (RUN + ["--set", "grid.scenarios.label_noise=[0.95]"], "label-noise rate 0.95"),
    (RUN + ["--set", "grid.scenarios.label_noise=[.nan]"], "grid.scenarios must be a finite"),
    (RUN + ["--set", "grid.scenarios.few_shot=[500]"], "k=500 exceeds"),
    (RUN + ["--set", "grid.scenarios.wobble=[1]"], "unknown scenario 'wobble'"),
    (RUN + ["--set", "grid.scenarios.sketch=[1, 2, 3]"], "grid.scenarios.sketch has no severity"),
    (RUN + ["--set", "grid.scenarios.clean=[0.5]"], "grid.scenarios.clean has no severity"),
    (RUN + ["--set", "grid.corruptions=[]"], "grid.corruptions is empty"),
    (RUN + ["--set", "pretrain.batch_size=1"], "pretrain.batch_size must be >= 2"),
    # Sizes that cannot fit in any memory this machine has (an extra 000 or two): refused
    # before the pretraining, not out of memory after it.
    (RUN + ["--set", "sae.width=20000000000"], "lower sae.width (null: the features' width"),
    (RUN + ["--set", "pretrain.proj_hidden=20000000000"],
     "lower pretrain.width, pretrain.proj_hidden or pretrain.proj_dim"),
    (["pretrain", "--preset", "smoke", "--quiet", "--out", "{out}", "--set",
      "pretrain.proj_dim=20000000000"],
     "lower pretrain.width, pretrain.proj_hidden or pretrain.proj_dim"),
    (["sae", "--features", "{d}/x.npy", "--out", "{out}", "--width", "20000000000"],
     "the SAE of --features (sae.width 20000000000, on 40 training feature vectors of width 6)"
     " needs at least"),
    (RUN + ["--set", "out={d}/elsewhere"], "out is given twice, by --out and by --set out="),
    (RUN + ["--set", "pretrain.encoder=vgg"], "unknown encoder 'vgg'"),
    (RUN + ["--set", "pretrain.epochs=0"], "pretrain.epochs must be >= 1"),
    (RUN + ["--set", "pretrain.epochs=1.5"], "pretrain.epochs must be int"),
    (RUN + ["--set", "pretrain.augment.flip_p=2"], "pretrain.augment.flip_p must be <= 1"),
    (RUN + ["--set", "probe.steps=0"], "probe.steps must be >= 1"),
    (RUN + ["--set", "probe.optimizer=adagrad"], "adagrad"),
    (RUN + ["--set", "data.val_fraction=1.5"], "data.val_fraction"),
    (RUN + ["--set", "data.train_size=5"], "data.train_size must be >= 10"),
    (RUN + ["--set", "data.data_dir=None"], "write null"),
    (RUN + ["--set", "dist_timeout_minutes=0"], "dist_timeout_minutes must be > 0"),
    (RUN + ["--set", "sae.k=9", "--set", "sae.width=8"], "sae.k (9) must not exceed"),
    (RUN + ["--set", "representations=[cl, xyz]"], "unknown representation 'xyz'"),
    (RUN + ["--set", "pretrain.lr"], "--set 'pretrain.lr': expected KEY=VALUE"),
    (RUN + ["--dataset", "imagenet-9000"], "unknown dataset 'imagenet-9000'"),
    (RUN + ["--data-dir", "/no/such/folder"], "does not exist"),
    (RUN + ["--preset", "nope"], "unknown preset 'nope'"),
    (RUN + ["--devices", "0"], "devices must be >= 1"),
    (RUN + ["--devices", "2", "--strategy", "bogus"], "invalid strategy name"),
    (RUN + ["--devices", "2", "--set", "pretrain.sync_batchnorm=true"],
     "pretrain.sync_batchnorm needs CUDA devices"),
    (RUN + ["--seeds", "x"], "--seeds"),
    (["pretrain", "--preset", "smoke", "--quiet", "--out", "{out}", "--set", "pretrain.lr=.nan"],
     "pretrain.lr"),
    (["pretrain", "--preset", "smoke", "--quiet", "--out", "{out}", "--objective", "byol"],
     "--objective"),
    (FINETUNE + ["--lr", "nan"], "--lr must be a finite"),
    (FINETUNE + ["--label-noise", "1.2"], "--label-noise must be < 1"),
    (FINETUNE + ["--epochs", "0"], "--epochs must be >= 1"),
    (FINETUNE + ["--batch-size", "1"], "--batch-size must be >= 2"),
    (FINETUNE + ["--heads", "mono", "mono"], "finetune.heads ['mono', 'mono'] contain duplicates"),
    (FINETUNE + ["--label-noise", "0.6", "0.6"], "finetune.label_noise [0.6, 0.6] contain duplicates"),
    (FINETUNE + ["--train-size", "5"], "--train-size must be >= 10"),
    (FINETUNE + ["--few-shot", "1000"], "finetune.few_shot k=1000"),
    (SAE + ["--features", "{d}/x.npy", "--lr", "nan"], "--lr must be a finite number"),
    (SAE + ["--features", "{d}/x.npy", "--k", "0"], "--k must be >= 1"),
    (SAE + ["--features", "{d}/nan.npy"], "--features contains NaN"),
    (SAE + ["--features", "{d}/missing.npy"], "missing.npy"),
    (["sae", "{d}/empty"], "no config.yaml"),
    (SAE + ["--features", "{d}/x.npy", "--seeds", "-1"], "--seeds"),
    ([a.replace("y.npy", "y39.npy") if i == 6 else a for i, a in enumerate(EVAL)],
     "39 labels but there are 40 samples"),
    ([a.replace("x.npy", "nan.npy") if i == 4 else a for i, a in enumerate(EVAL)],
     "train features contains NaN"),
    (EVAL + ["--seeds", "-1"], "--seeds"),
    (["study", "{d}/empty", "--noise-rates", "1.5"], "--noise-rates must be < 1, got 1.5"),
    (["report", "{d}/missing-run"], "missing-run does not exist"),
    (["report", "{d}/damaged-run"], "results.jsonl line 2"),
    (["run", "--preset", "smoke", "--quiet", "--out", "{d}/edited-run"],
     "results.jsonl line 2 is not a ResultRow: its 'accuracy' is 'high', not float"),
    (["report", "{d}/edited-run"], "results.jsonl line 2 is not a ResultRow"),
    (["report", "{d}/edited-study"], "study.jsonl line 1 is not a StudyRow: it has no 'l2'"),
    (["toy", "--out", "{out}", "--sparsity", "nan"], "--sparsity must be a finite number"),
    (["toy", "--out", "{out}", "--set", "superposition.n_features=-1"],
     "superposition.n_features must be >= 1"),
    (["toy", "--out", "{out}", "--set", "superpositon.n_features=1"], "unknown section 'superpositon'"),
    (SAE + ["--features", "{d}/x.npy", "--set", "sae.aux_weight=-1"], "sae.aux_weight must be >= 0"),
    (FINETUNE + ["--set", "finetune.head_lr=.inf"], "finetune.head_lr must be a finite number"),
    (["lora", "classify", "--out", "{out}", "--set", "r=0"], "r must be >= 1"),
    (["toy", "--out", "{out}", "--tf-weights", "1", "-1"], "--tf-weights must be > 0"),
    (["toy", "--out", "{out}", "--num-classes", "1"], "--num-classes must be >= 2"),
    (["toy", "--out", "{out}", "--label-rates", "0.9"], "--label-rates holds 0.9"),
    (["lora", "classify", "--out", "{out}", "--noise", "1.5"], "--noise must be < 1"),
    (["lora", "classify", "--out", "{out}", "--lr", "nan"], "--lr must be a finite number"),
    (["lora", "align", "--out", "{out}", "--lora-dropout", "1"], "--lora-dropout must be < 1"),
    # torch takes 64-bit seeds: a larger one was a traceback after config.yaml was written.
    (RUN + ["--seeds", str(2**64)], "a seed must be >= 0 and < 2**63, got 18446744073709551616"),
    (RUN + ["--set", f"seeds=[{2**64}]"], "seeds must be < 9223372036854775808, got 1844674"),
    # The name names arrays-NAME.json: a/b made a folder in --out, ../x wrote beside it.
    (EVAL + ["--name", "a/b"], "name (--name) 'a/b' must be a non-empty name without slashes"),
    (EVAL + ["--name", "../x"], "name (--name) '../x' must be"),
    (EVAL + ["--name", ""], "name (--name) '' must be"),
    # A batch larger than the training split was refused inside pretraining, after config.yaml
    # was written, and that record then refused the corrected command.
    (RUN + ["--set", "data.train_size=100"], "pretrain.batch_size 128 x 1 processes exceeds the 80"),
    (["pretrain", "--preset", "smoke", "--quiet", "--out", "{out}", "--set", "data.train_size=100"],
     "pretrain.batch_size 128 x 1 processes exceeds the 80"),
    (FINETUNE + ["--set", "data.train_size=100", "--few-shot", "1"],
     "pretrain.batch_size 128 x 1 processes exceeds the 80"),
]


def _files(folder: Path) -> set[str]:
    """Every file under ``folder`` but the lock file (which only says who held the folder)."""
    if not folder.is_dir():
        return set()
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != ".lock"}


def _cli(argv: list[str]) -> int:
    """``monorobust ARGV``'s exit status (argparse's own errors exit through SystemExit)."""
    try:
        return main(argv)
    except SystemExit as stop:
        return int(stop.code)


@pytest.mark.parametrize("argv, message", CLI_CASES, ids=[" ".join(a[:1] + a[-2:]) for a, _ in CLI_CASES])
def test_cli_bad_input_is_one_error_line_and_writes_nothing(argv, message, inputs, capsys):
    out = inputs / "out"
    argv = [a.format(d=inputs, out=out) for a in argv]
    named = {Path(a) for a in argv if a.startswith(str(inputs))} | {out}
    before = {p: _files(p) for p in named}
    code = _cli(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    assert message in err, err
    assert {p: _files(p) for p in named} == before               # nothing new anywhere


def _digits_like(images: torch.Tensor) -> ImageDataset:
    labels = torch.arange(len(images)) % 3
    split = ImageSplit(images, labels)
    return ImageDataset("mine", split, split, ("a", "b", "c"))


def _one_rare_class() -> ImageDataset:
    """Three classes, the last with 2 training images: none of them held out for validation."""
    labels = torch.tensor([0, 1] * 14 + [2, 2])
    split = ImageSplit(torch.randint(0, 256, (30, 1, 8, 8), dtype=torch.uint8), labels)
    return ImageDataset("mine", split, split, ("a", "b", "c"))


def _encode(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1)


g = torch.Generator().manual_seed(0)
API_CASES = [
    (lambda: perturb.symmetric_label_noise(torch.tensor([0, 1, 5]), 0.3, 3, g), "contains label 5"),
    (lambda: perturb.symmetric_label_noise(torch.tensor([0, 1, 2]), float("nan"), 3, g),
     "label-noise rate nan"),
    (lambda: perturb.symmetric_label_noise(torch.tensor([0.0, 1.5]), 0.3, 3, g), "non-integer"),
    (lambda: perturb.gaussian_noise(torch.rand(2, 1, 4, 4), float("nan"), g), "noise strength"),
    (lambda: perturb.uniform_noise(torch.rand(2, 1, 4, 4), -1.0, g), "noise strength"),
    (lambda: perturb.few_shot_indices(torch.zeros(4, 2, dtype=torch.long), 1, 2, g), "labels must be a 1-D array"),
    (lambda: metrics.summarize(torch.rand(10, 4), torch.arange(9) % 2), "9 labels but there are 10"),
    (lambda: metrics.summarize(torch.rand(10), torch.arange(10) % 2), "features must be a non-empty (N, D)"),
    (lambda: metrics.summarize(torch.rand(10, 4), torch.arange(10), num_classes=5), "out of range"),
    (lambda: metrics.semantic_consistency(torch.full((4, 2), float("nan")), torch.arange(4) % 2),
     "features contains NaN"),
    (lambda: metrics.topk_purity(torch.rand(6, 3), torch.arange(6) % 2, k=0), "k must be >= 1"),
    (lambda: evaluate.robustness(_encode, _digits_like(torch.rand(30, 1, 8, 8) * 255)),
     "must be uint8 in 0-255"),
    (lambda: evaluate.robustness(_encode, _digits_like(torch.zeros(30, 8, 8, 3, dtype=torch.uint8))),
     "channels-last"),
    (lambda: evaluate.robustness(_encode, "digits", seeds=(-1,)), "seeds"),
    (lambda: evaluate.robustness(_encode, "digits", device="tpu"), "device 'tpu' is not a device"),
    (lambda: evaluate.extract(_encode, torch.rand(4, 1, 8, 8) * 255), "float images must be in [0, 1]"),
    (lambda: evaluate.robustness(_encode, ImageDataset(
        "mine", ImageSplit(torch.zeros(30, 1, 8, 8, dtype=torch.uint8), torch.arange(30.0) % 3),
        ImageSplit(torch.zeros(30, 1, 8, 8, dtype=torch.uint8), torch.arange(30) % 3),
        ("a", "b", "c"))), "mine train labels are torch.float32"),
    (lambda: evaluate.robustness(lambda x: _encode(x) * float("nan"), "digits", seeds=(0,)),
     "encode's output for images 0-449 contains NaN"),
    (lambda: evaluate.robustness(lambda x: _encode(x)[:5], "digits", seeds=(0,)),
     "has shape (5, 64) for 450 images"),
    (lambda: evaluate.robustness(lambda x: _encode(x).numpy(), "digits", seeds=(0,)),
     "must be a torch.Tensor"),
    (lambda: evaluate.robustness(_encode, _digits_like(torch.zeros(30, 1, 2, 2, dtype=torch.uint8))),
     "images are 2x2 pixels; monorobust needs at least 8x8"),
    (lambda: evaluate.robustness(_encode, [1, 2, 3]), "data must be a dataset name"),
    # All black: pretrained for minutes, then "SAE input has no variance".
    (lambda: evaluate.robustness(_encode, _digits_like(torch.zeros(30, 1, 8, 8, dtype=torch.uint8))),
     "mine train images are all the same (30 copies of one image"),
    (lambda: ProbeConfig(lr=float("nan")), "probe.lr must be a finite number"),
    (lambda: evaluate.robustness(_encode, _one_rare_class(), val_fraction=0.1,
                                 grid=GridConfig(scenarios={"few_shot": (1,)})),
     "a class has no validation example"),
]


@pytest.mark.parametrize("call, message", API_CASES, ids=[m for _, m in API_CASES])
def test_python_api_bad_input_is_a_config_error_naming_the_argument(call, message):
    with pytest.raises(ConfigError) as caught:
        call()
    assert message in str(caught.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error where CUDA is missing")
def test_a_cuda_device_without_cuda_is_a_config_error():
    with pytest.raises(ConfigError, match="no CUDA GPU is visible here"):
        evaluate.robustness(_encode, "digits", device="cuda")


def test_there_are_at_least_forty_cases():
    assert len(CLI_CASES) + len(API_CASES) >= 40


SMALL = ["--preset", "smoke", "--seeds", "0", "--quiet", "--no-report", "--set", "pretrain.epochs=15",
         "--set", "representations=[cl, ncl]",
         "--set", "grid.scenarios={clean: [0], label_noise: [0.4], few_shot: [5]}"]


def _rows(out: Path) -> list[dict]:
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return sorted(rows, key=lambda r: (r["representation"], r["scenario"], r["severity"]))


def _held(folder: Path) -> bool:
    lock = folder / ".lock"
    if not lock.exists():
        return False
    with open(lock) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


@pytest.mark.slow
def test_a_second_run_into_the_same_folder_is_refused_and_the_first_is_untouched(tmp_path, capsys):
    shared, alone = tmp_path / "shared", tmp_path / "alone"
    first = subprocess.Popen([sys.executable, "-m", "monorobust", "run", *SMALL, "--out", str(shared)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not _held(shared):
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first run never took its lock"
        time.sleep(0.05)
    assert main(["run", *SMALL, "--out", str(shared)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {shared} is in use by process {first.pid} (monorobust run); wait for it "
                   "to finish, or pass another --out")
    _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    # Alone, in a process of its own too (in this one, conftest sets one torch thread: other sums).
    subprocess.run([sys.executable, "-m", "monorobust", "run", *SMALL, "--out", str(alone)],
                   check=True, capture_output=True)
    assert _rows(shared) == _rows(alone)                # every row once, the same numbers
    assert not _held(shared)                            # released with the process


@pytest.mark.parametrize("key, value", [("pretrain.keep_checkpoints", 5), ("pretrain.loader_workers", 0),
                                        ("dist_timeout_minutes", 10.0), ("pretrain.compile", True)])
def test_a_rerun_may_change_keys_that_change_no_number(tmp_path, key, value):
    from monorobust.experiment import claim_out_dir
    from monorobust.rundir import RunDir

    first = load_config("smoke", {"out": str(tmp_path)})
    RunDir(tmp_path).write_config(first)
    recorded = claim_out_dir(tmp_path, load_config("smoke", {"out": str(tmp_path), key: value}))
    section, _, leaf = key.rpartition(".")
    assert getattr(getattr(recorded, section) if section else recorded, leaf) == value


@pytest.mark.parametrize("key, value", [("pretrain.lr", 0.01), ("probe.steps", 7), ("device", "auto")])
def test_a_rerun_may_not_change_keys_that_change_numbers(tmp_path, key, value):
    from monorobust.experiment import claim_out_dir
    from monorobust.rundir import RunDir

    RunDir(tmp_path).write_config(load_config("smoke", {"out": str(tmp_path)}))
    with pytest.raises(ConfigError, match=f"differs in: {key}"):
        claim_out_dir(tmp_path, load_config("smoke", {"out": str(tmp_path), key: value}))
