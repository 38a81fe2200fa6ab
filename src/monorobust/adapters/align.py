"""``monorobust lora align``: does MonoLoRA keep a chat model's refusals better than LoRA?

1. Stage 1 (once, cached): the starting model is taught to refuse ``harmful_train`` HarmBench
   behaviours, while answering benign instructions as it did before (its own greedy answers), by
   a LoRA that is then merged into the weights: the "aligned" model.
2. Stage 2 (per method and seed): an adapter (LoRA or MonoLoRA) on the aligned model, trained on
   tweet sentiment as instruction following.
3. Every model (shipped, aligned, each fine-tune) is scored: refusal rate on held-out harmful
   behaviours (refusal-phrase judge, degenerate answers never count as refusals), refusal rate on
   held-out benign instructions (over-refusal), sentiment accuracy (greedy decoding restricted to
   the three answer words), and for adapters the share of zero adapter activations.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from monorobust.adapters import align_data as D
from monorobust.adapters.align_config import STAGE1_KEYS, AlignConfig
from monorobust.adapters.hf_models import check_model_source, default_cache_dir, load_causal_lm, local_model_dir
from monorobust.adapters.judge import summarise_verdicts
from monorobust.adapters.lm_utils import check_target_modules, choose, encode_example, generate, train_lm
from monorobust.adapters.methods import adapter_config
from monorobust.adapters.parallel import executor
from monorobust.adapters.report import open_rows, write_tables
from monorobust.adapters.sparsity import sparsity_meter
from monorobust.adapters.text_data import class_balanced_splits, load_tweets
from monorobust.io import atomic_directory, write_json
from monorobust.rows import Row, run_grid


@dataclass(frozen=True)
class AlignRow(Row):
    """One scored model: the shipped one, the aligned one, or an adapter fine-tune (one seed)."""

    AXES: ClassVar[tuple[str, ...]] = ("model", "method", "seed")

    model: str
    """"shipped", "aligned" or "aligned+task"."""
    method: str
    """The stage-2 adapter; "-" for models without one."""
    seed: int
    """The stage-2 seed; -1 for models without an adapter."""
    harmful_refusal: float
    harmful_degenerate: float
    benign_refusal: float
    task_acc: float
    sparsity: float
    """Share of zero adapter activations (NaN without an adapter)."""
    samples: dict[str, Any]
    """A few judged answers, for reading."""
    seconds: float
    cpu_seconds: float
    fingerprint: str
    """``AlignConfig.fingerprint`` of the settings it ran under."""
    final_loss: float | None = None
    """Mean stage-2 training loss of the last 5 steps (adapters only)."""


KEYS = AlignRow.AXES[:-1]
METRICS = ("harmful_refusal", "harmful_degenerate", "benign_refusal", "task_acc", "sparsity")
HEADERS = {"harmful_refusal": "refusal % (held-out harmful)", "harmful_degenerate": "degenerate %",
           "benign_refusal": "refusal % (benign)", "task_acc": "sentiment acc %", "sparsity": "adapter zeros %"}


class Prompts:
    """Every prompt set of the experiment, fixed by ``split_seed``."""

    def __init__(self, cfg: AlignConfig) -> None:
        harmful = D.split_harmful(D.harmbench_standard(), cfg.harmful_train, cfg.harmful_heldout, cfg.split_seed)
        self.harmful_train, self.harmful_heldout = harmful.train, harmful.heldout
        self.benign_train = D.benign_prompts(D.TRAIN_TOPICS, cfg.benign_train, cfg.split_seed)
        self.benign_heldout = D.benign_prompts(D.HELDOUT_TOPICS, cfg.benign_heldout, cfg.split_seed)
        tweets = load_tweets()
        g = torch.Generator().manual_seed(cfg.split_seed)
        splits = class_balanced_splits(tweets.labels, 3, cfg.task_test // 3, cfg.task_train // 3, g)
        # the "val" draw of class_balanced_splits serves as the balanced training set here
        self.task_train = [(D.sentiment_prompt(tweets.texts[i]), D.SENTIMENT_LABELS[int(tweets.labels[i])])
                           for i in splits.val.tolist()]
        self.task_test = [D.sentiment_prompt(tweets.texts[i]) for i in splits.test.tolist()]
        self.task_test_labels = tweets.labels[splits.test]


def evaluate(model: Any, tokenizer: Any, prompts: Prompts, cfg: AlignConfig, adapters: bool) -> dict[str, Any]:
    """Judge held-out harmful and benign answers, score the task, measure adapter zeros."""
    harmful = generate(model, tokenizer, prompts.harmful_heldout, cfg.eval_new_tokens)
    benign = generate(model, tokenizer, prompts.benign_heldout, cfg.eval_new_tokens)
    h, b = summarise_verdicts(harmful), summarise_verdicts(benign)
    if adapters:
        with sparsity_meter(model) as meter:
            picks = choose(model, tokenizer, prompts.task_test, D.SENTIMENT_LABELS, meter=meter)
        sparsity = meter.share
    else:
        picks, sparsity = choose(model, tokenizer, prompts.task_test, D.SENTIMENT_LABELS), float("nan")
    return {"harmful_refusal": h.refusal, "harmful_degenerate": h.degenerate, "benign_refusal": b.refusal,
            "task_acc": float((picks == prompts.task_test_labels).float().mean()), "sparsity": sparsity,
            "samples": {"harmful": harmful[:3], "benign": benign[:2]}}


def stage1(cfg: AlignConfig, prompts: Prompts, cache: Path, log: Callable[[str], None]) -> Path:
    """Train (or find in the cache) the aligned model; returns its folder (safetensors)."""
    from peft import LoraConfig, get_peft_model

    label = check_model_source(cfg.model).label
    target = cache / "aligned" / f"{label}-{cfg.fingerprint(STAGE1_KEYS)}"
    if (target / "model.safetensors").is_file():
        log(f"stage 1: cached aligned model {target}")
        return target
    model, tokenizer = load_causal_lm(cfg.model, cache)
    check_target_modules(model, cfg.target_modules)     # before minutes of self-distillation
    log(f"stage 1: self-distilling {len(prompts.benign_train)} benign answers")
    benign_answers = generate(model, tokenizer, prompts.benign_train, cfg.benign_answer_tokens)
    examples = [encode_example(tokenizer, p, D.refusal_for(i), cfg.max_length)
                for i, p in enumerate(prompts.harmful_train)]
    # A self-distilled answer cut at benign_answer_tokens gets no eos: the model is not taught to stop early.
    examples += [encode_example(tokenizer, p, a, cfg.max_length, complete=False)
                 for p, a in zip(prompts.benign_train, benign_answers)]
    torch.manual_seed(cfg.split_seed)
    peft_model = get_peft_model(model, LoraConfig(r=cfg.align_r, lora_alpha=2 * cfg.align_r, lora_dropout=0.0,
                                                  target_modules=list(cfg.target_modules)))
    log(f"stage 1: teaching refusal, {cfg.align_steps} steps on {len(examples)} examples")
    train_lm(peft_model, tokenizer, examples, cfg.align_steps, cfg.batch_size, cfg.align_lr, cfg.split_seed, log)
    merged = peft_model.merge_and_unload()
    with atomic_directory(target) as tmp:
        merged.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / "stage1_data.json", {"benign_prompts": prompts.benign_train, "benign_answers": benign_answers,
                                              "harmful_train": prompts.harmful_train})
    return target


@functools.lru_cache(maxsize=None)
def _prompts(cfg: AlignConfig) -> Prompts:
    return Prompts(cfg)


def _timed(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    t, c = time.time(), time.process_time()
    row = fn()
    row.update(seconds=round(time.time() - t, 1), cpu_seconds=round(time.process_time() - c, 1))
    return row


def _eval_cell(cfg: AlignConfig, model_dir: str, name: str) -> dict[str, Any]:
    """Score a model without adapters (the shipped one, the aligned one)."""
    def work() -> dict[str, Any]:
        model, tokenizer = load_causal_lm(model_dir)
        return evaluate(model, tokenizer, _prompts(cfg), cfg, adapters=False)
    return {**_timed(work), "model": name, "method": "-", "seed": -1}


def _finetune_cell(cfg: AlignConfig, aligned_dir: str, method: str, seed: int) -> dict[str, Any]:
    """Stage 2 for one method and seed: adapter on the aligned model, task training, scoring."""
    from peft import get_peft_model

    def work() -> dict[str, Any]:
        prompts = _prompts(cfg)
        base, tokenizer = load_causal_lm(aligned_dir)
        check_target_modules(base, cfg.target_modules)
        examples = [encode_example(tokenizer, p, a, cfg.max_length) for p, a in prompts.task_train]
        torch.manual_seed(seed)                       # adapter init and dropout
        model = get_peft_model(base, adapter_config(method, r=cfg.r, lora_alpha=cfg.lora_alpha,
                                                    lora_dropout=cfg.lora_dropout,
                                                    target_modules=list(cfg.target_modules)))
        losses = train_lm(model, tokenizer, examples, cfg.finetune_steps, cfg.batch_size, cfg.lr, seed)
        row = evaluate(model, tokenizer, prompts, cfg, adapters=True)
        row["final_loss"] = sum(losses[-5:]) / len(losses[-5:])
        return row
    return {**_timed(work), "model": "aligned+task", "method": method, "seed": seed}


def run_align(cfg: AlignConfig, out_dir: str | Path, cache_dir: str | Path | None = None,
              log: Callable[[str], None] = print) -> str:
    """Run both stages and every evaluation (reusing finished rows) and return the table.

    With ``workers`` >= 2 the shipped model is scored while stage 1 trains, and the stage-2 cells
    run side by side.
    """
    out, cache = Path(out_dir), Path(cache_dir) if cache_dir else default_cache_dir()
    check_model_source(cfg.model)
    prompts = _prompts(cfg)                           # all data checks before any model work
    torch.set_num_threads(cfg.threads)
    fp = cfg.fingerprint()
    rows = open_rows(out, cfg, fp, AlignConfig.AXES, AlignRow, log)
    wanted = [("shipped", "-", -1), ("aligned", "-", -1)] + [("aligned+task", m, s) for s in cfg.seeds
                                                             for m in cfg.methods]

    def compute(todo: list[tuple]) -> Iterator[AlignRow]:
        shipped_dir = local_model_dir(cfg.model, cache)   # dequantised once, before workers read it
        with executor(cfg.workers, cfg.threads) as ex:
            futures = []
            if wanted[0] in todo:
                futures.append(ex.submit(_eval_cell, cfg, shipped_dir, "shipped"))
            aligned_dir = str(stage1(cfg, prompts, cache, log))
            if wanted[1] in todo:
                futures.append(ex.submit(_eval_cell, cfg, aligned_dir, "aligned"))
            futures += [ex.submit(_finetune_cell, cfg, aligned_dir, method, seed)
                        for _, method, seed in wanted[2:] if ("aligned+task", method, seed) in todo]
            for future in as_completed(futures):
                yield AlignRow(**future.result(), fingerprint=fp)

    def done(row: AlignRow) -> None:
        log(f"{row.model} {row.method} seed={row.seed}: refusal {row.harmful_refusal:.2f} "
            f"(degenerate {row.harmful_degenerate:.2f}), benign refusal {row.benign_refusal:.2f}, task "
            f"{row.task_acc:.3f}, zeros {row.sparsity:.3f} ({row.seconds} s, {row.cpu_seconds} s CPU)")

    return write_tables(out, run_grid(rows, wanted, compute, done), KEYS, METRICS, HEADERS)
