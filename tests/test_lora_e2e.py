"""Tiny end-to-end runs of the classify and align building blocks (random tiny models, seconds)."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")

from monorobust.adapters.classify import run_one  # noqa: E402
from monorobust.adapters.classify_config import ClassifyConfig  # noqa: E402
from monorobust.adapters.text_data import TextDataset, class_balanced_splits  # noqa: E402

WORDS = ["good", "great", "fine", "bad", "awful", "poor", "table", "chair", "lamp"]


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]")


def tiny_bert() -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=5 + len(WORDS), hidden_size=16, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    return transformers.BertModel(cfg).eval()


def toy_dataset() -> TextDataset:
    g = torch.Generator().manual_seed(0)
    texts, labels = [], []
    for i in range(90):
        c = i % 3
        words = [WORDS[3 * c + int(j)] for j in torch.randint(0, 3, (4,), generator=g)]
        texts.append(" ".join(words))
        labels.append(c)
    return TextDataset(texts, torch.tensor(labels), ["pos", "neg", "obj"])


def test_classify_run_is_deterministic_and_learns(tokenizer) -> None:
    data = toy_dataset()
    splits = class_balanced_splits(data.labels, 3, 8, 4, torch.Generator().manual_seed(0))
    cfg = ClassifyConfig(steps=12, batch_size=8, eval_every=4, max_length=8, lr=1e-2, threads=1)
    encoder = tiny_bert()
    rows = [run_one(cfg, data, splits, encoder, tokenizer, "toy", 6, 0.2, m, 0)
            for m in ("lora", "monolora", "monolora")]
    assert rows[1]["test_acc"] == rows[2]["test_acc"] and rows[1]["sparsity"] == rows[2]["sparsity"]
    assert rows[0]["realised_noise"] == rows[1]["realised_noise"] == pytest.approx(round(0.2 * 18) / 18)
    assert rows[0]["sparsity"] == 0.0 and 0.0 < rows[1]["sparsity"] < 1.0
    assert max(r["test_acc"] for r in rows) > 0.5            # separable toy words: well above 1/3


def test_lm_training_generation_and_scoring(tokenizer) -> None:
    from peft import get_peft_model

    from monorobust.adapters.lm_utils import choose, encode_example, generate, train_lm
    from monorobust.adapters.methods import adapter_config

    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=48,
                                   num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
                                   max_position_embeddings=64, pad_token_id=0)
    lm = transformers.LlamaForCausalLM(cfg).eval()
    model = get_peft_model(lm, adapter_config("monolora", r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj", "down_proj"]))
    examples = [encode_example(tokenizer, "table chair", "good", 32), encode_example(tokenizer, "lamp", "bad", 32)]
    losses = train_lm(model, tokenizer, examples, steps=40, batch_size=2, lr=3e-2, seed=0)
    assert losses[-1] < losses[0] - 0.3      # the frozen tiny random LM head bounds how low it can go
    picks = choose(model, tokenizer, ["table chair", "lamp"], ["good", "bad"])
    assert picks.tolist() == [0, 1]
    answers = generate(model, tokenizer, ["lamp", "table chair"], max_new_tokens=2, batch_size=2)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
