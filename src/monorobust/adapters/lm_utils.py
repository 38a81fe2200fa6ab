"""Chat-format supervised fine-tuning, greedy generation and constrained scoring for causal LMs.

Training sequences are ``chat(prompt) + answer + eos`` with the loss on the answer tokens only. To
save the vocabulary projection on prompt tokens (a fifth of SmolLM2's compute), the decoder runs
once and the LM head only on positions that predict an answer token::

    h = decoder(ids)                       # (B, T, H)
    loss = CE(head(h[:, :-1][m]), ids[:, 1:][m])   # m: (B, T-1) answer positions

(final-logit soft-capping, which a few model families use, is not applied there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from monorobust.errors import ConfigError


def check_target_modules(model: nn.Module, names: Sequence[str]) -> None:
    """ConfigError, before any training, when a ``target_modules`` name matches no module of
    ``model`` as PEFT matches them (the whole name, or its last dotted parts); PEFT's own
    error comes as a traceback, after whatever ran before the adapter was made."""
    if list(names) == ["all-linear"]:                   # PEFT's name for every linear layer
        return
    found = [n for n, _ in model.named_modules()]
    missing = [t for t in names if not any(n == t or n.endswith("." + t) for n in found)]
    if missing:
        linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                         if isinstance(m, nn.Linear)})
        raise ConfigError(f"target_modules {missing} match no module of the model; its linear "
                          f"layers are named: {', '.join(linear)}")


def chat_prompt(tokenizer: Any, prompt: str) -> str:
    """The model's chat template around one user turn, ending where the assistant answers."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
    return f"User: {prompt}\nAssistant: "


def _parts(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    return lm.get_decoder(), lm.get_output_embeddings()


def encode_example(tokenizer: Any, prompt: str, answer: str, max_length: int, complete: bool = True
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, labels), both (T,), labels -100 on the prompt. ``complete`` appends the eos token."""
    p = tokenizer(chat_prompt(tokenizer, prompt), add_special_tokens=False)["input_ids"]
    a = tokenizer(answer, add_special_tokens=False)["input_ids"]
    if complete and tokenizer.eos_token_id is not None:
        a = a + [tokenizer.eos_token_id]
    p = p[-max(1, max_length - len(a)):] if len(p) + len(a) > max_length else p   # keep the prompt's end
    ids = torch.tensor((p + a)[:max_length])
    labels = ids.clone()
    labels[:len(p)] = -100
    return ids, labels


def _pad_right(seqs: Sequence[torch.Tensor], value: int) -> torch.Tensor:
    return nn.utils.rnn.pad_sequence(list(seqs), batch_first=True, padding_value=value)


def train_lm(model: nn.Module, tokenizer: Any, examples: Sequence[tuple[torch.Tensor, torch.Tensor]],
             steps: int, batch_size: int, lr: float, seed: int,
             log: Callable[[str], None] | None = None) -> list[float]:
    """AdamW on the trainable parameters for ``steps`` batches (seeded order); returns the losses."""
    decoder, head = _parts(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(seed)
    order, cursor, losses = torch.randperm(len(examples), generator=g), 0, []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    model.train()
    for step in range(steps):
        if cursor + batch_size > len(order):
            order, cursor = torch.randperm(len(examples), generator=g), 0
        batch = [examples[i] for i in order[cursor:cursor + batch_size].tolist()]
        cursor += batch_size
        ids = _pad_right([b[0] for b in batch], pad)                        # (B, T)
        labels = _pad_right([b[1] for b in batch], -100)                    # (B, T)
        mask = _pad_right([torch.ones_like(b[0]) for b in batch], 0)
        hidden = decoder(input_ids=ids, attention_mask=mask).last_hidden_state
        target = labels[:, 1:]
        m = target != -100                                                  # (B, T-1)
        loss = nn.functional.cross_entropy(head(hidden[:, :-1][m]).float(), target[m])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if log is not None and (step + 1) % 10 == 0:
            log(f"  step {step + 1}/{steps} loss {sum(losses[-10:]) / len(losses[-10:]):.3f}")
    model.eval()
    return losses


def _left_batch(tokenizer: Any, prompts: Sequence[str]) -> dict[str, torch.Tensor]:
    tokenizer.padding_side = "left"
    texts = [chat_prompt(tokenizer, p) for p in prompts]
    return tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)


@torch.no_grad()
def generate(model: nn.Module, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int,
             batch_size: int = 16) -> list[str]:
    """Greedy answers (special tokens removed) to each prompt in chat format."""
    model.eval()
    answers: list[str] = []
    for i in range(0, len(prompts), batch_size):
        enc = _left_batch(tokenizer, prompts[i:i + batch_size])
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id)
        answers += tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return answers


def choice_token_ids(tokenizer: Any, choices: Sequence[str]) -> list[int]:
    """First token of each answer word; they must differ for constrained scoring."""
    ids = [tokenizer(c, add_special_tokens=False)["input_ids"][0] for c in choices]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"the answers {list(choices)} share a first token with this tokenizer; "
                          "constrained scoring needs distinct first tokens")
    return ids


@torch.no_grad()
def choose(model: nn.Module, tokenizer: Any, prompts: Sequence[str], choices: Sequence[str],
           batch_size: int = 16, meter: Any = None) -> torch.Tensor:
    """(N,) index of the choice whose first token the model ranks highest after each prompt.

    This is greedy decoding constrained to the answer words: one forward pass per prompt.
    """
    decoder, head = _parts(model)
    cand = torch.tensor(choice_token_ids(tokenizer, choices))
    model.eval()
    picks = []
    for i in range(0, len(prompts), batch_size):
        enc = _left_batch(tokenizer, prompts[i:i + batch_size])
        pos = (enc["attention_mask"].cumsum(-1) - 1).clamp_min(0)            # left padding
        if meter is not None:
            meter.set_mask(enc["attention_mask"])
        hidden = decoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                         position_ids=pos).last_hidden_state
        picks.append(head(hidden[:, -1])[:, cand].argmax(-1))
    return torch.cat(picks)
