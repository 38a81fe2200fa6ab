"""``monorobust lora classify``: a MiniLM encoder + linear head fine-tuned with LoRA or MonoLoRA.

    features = mean_t(encoder_adapted(tokens))   # (B, H), padding excluded
    logits   = W_head features + b_head          # (B, C); the head is trained in full

Per (dataset, k, noise rate, seed) every method sees the same k-per-class subset and the same
noisy labels. Validation (noised like training, as a user would have it) picks the step whose
weights are tested on the clean test split. Rows go to ``results.jsonl`` as each run ends.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from monorobust.adapters.classify_config import ClassifyConfig
from monorobust.adapters.hf_models import check_model_source, load_encoder
from monorobust.adapters.lm_utils import check_target_modules
from monorobust.adapters.methods import adapter_config
from monorobust.adapters.parallel import run_cells
from monorobust.adapters.report import open_rows, write_tables
from monorobust.adapters.sparsity import SparsityMeter, sparsity_meter
from monorobust.adapters.text_data import TextDataset, class_balanced_splits, load_text_dataset
from monorobust.errors import ConfigError
from monorobust.perturb.few_shot import few_shot_indices
from monorobust.perturb.label_noise import check_label_noise_rate, symmetric_label_noise
from monorobust.rows import Row, run_grid
from monorobust.seeding import derive_seed

METRICS = ("test_acc", "val_acc", "train_acc", "sparsity")
HEADERS = {"shots": "k/class", "noise": "noise", "test_acc": "test acc %", "val_acc": "val acc %",
           "train_acc": "train acc % (given labels)", "sparsity": "adapter zeros %"}


@dataclass(frozen=True)
class ClassifyRow(Row):
    """One adapter trained on one (dataset, k, noise rate) cell with one seed; its done-key
    is ``(dataset, shots, noise, method, seed)``."""

    dataset: str
    shots: int
    """k: training examples per class."""
    noise: float
    """Symmetric label-noise rate of the training and validation labels."""
    method: str
    seed: int
    test_acc: float
    """On the clean test split, with the weights of the best validation step."""
    val_acc: float
    """On the noisy validation labels, at that step."""
    best_step: int
    train_acc: float
    """On the training labels as given (noisy)."""
    sparsity: float
    """Share of zero adapter activations on the test split."""
    realised_noise: float
    n_train: int
    n_test: int
    seconds: float
    cpu_seconds: float
    fingerprint: str
    """``ClassifyConfig.fingerprint`` of the settings it ran under."""

    AXES: ClassVar[tuple[str, ...]] = ("dataset", "shots", "noise", "method", "seed")


KEYS = ClassifyRow.AXES[:-1]


class TextClassifier(nn.Module):
    """Mean-pooled encoder (with adapters) and a linear head."""

    def __init__(self, encoder: nn.Module, hidden: int, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra: Any) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)                        # (B, T, 1)
        return self.head((hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0))       # (B, C)


def _batches(tokenizer: Any, texts: list[str], max_length: int, size: int):
    for i in range(0, len(texts), size):
        yield i, tokenizer(texts[i:i + size], truncation=True, max_length=max_length, padding=True,
                           return_tensors="pt")


@torch.no_grad()
def accuracy(model: TextClassifier, tokenizer: Any, texts: list[str], labels: torch.Tensor, max_length: int,
             meter: SparsityMeter | None = None) -> float:
    """Share of ``texts`` classified as ``labels`` (model in eval mode)."""
    model.eval()
    correct = 0
    for i, enc in _batches(tokenizer, texts, max_length, 64):
        if meter is not None:
            meter.set_mask(enc["attention_mask"])
        correct += int((model(**enc).argmax(-1) == labels[i:i + len(enc["input_ids"])]).sum())
    return correct / max(len(texts), 1)


def run_one(cfg: ClassifyConfig, data: TextDataset, splits: Any, encoder: nn.Module, tokenizer: Any,
            dataset: str, k: int, rate: float, method: str, seed: int) -> ClassifyRow:
    """Train one adapter (one grid cell, one seed) and return its result row."""
    from peft import get_peft_model

    start, start_cpu = time.time(), time.process_time()
    C = len(data.class_names)
    g = torch.Generator().manual_seed(seed)              # data: identical for every method
    pool = splits.train_pool
    train = pool[few_shot_indices(data.labels[pool], k, C, g)]
    noisy = symmetric_label_noise(data.labels[train], rate, C, g)
    val_noisy = symmetric_label_noise(data.labels[splits.val], rate, C, g)
    texts = [data.texts[i] for i in train.tolist()]
    val_texts = [data.texts[i] for i in splits.val.tolist()]
    test_texts = [data.texts[i] for i in splits.test.tolist()]

    torch.manual_seed(seed)                               # adapter init (PEFT), head init, dropout
    peft_cfg = adapter_config(method, r=cfg.r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                              target_modules=list(cfg.target_modules))
    enc = get_peft_model(copy.deepcopy(encoder), peft_cfg)
    model = TextClassifier(enc, encoder.config.hidden_size, C)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    order_gen = torch.Generator().manual_seed(derive_seed(seed, "batch-order"))
    order = torch.randperm(len(texts), generator=order_gen)
    cursor, best = 0, (-1.0, 0, None)
    for step in range(1, cfg.steps + 1):
        if cursor + cfg.batch_size > len(order):          # next epoch: a fresh permutation
            order, cursor = torch.randperm(len(texts), generator=order_gen), 0
        idx = order[cursor:cursor + cfg.batch_size]
        cursor += cfg.batch_size
        model.train()
        batch = tokenizer([texts[i] for i in idx.tolist()], truncation=True, max_length=cfg.max_length,
                          padding=True, return_tensors="pt")
        loss = nn.functional.cross_entropy(model(**batch), noisy.labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % cfg.eval_every == 0 or step == cfg.steps:
            val_acc = accuracy(model, tokenizer, val_texts, val_noisy.labels, cfg.max_length)
            if val_acc > best[0]:                         # ties keep the earlier step
                best = (val_acc, step, [p.detach().clone() for p in params])
    with torch.no_grad():
        for p, saved in zip(params, best[2]):
            p.copy_(saved)
    with sparsity_meter(model) as meter:
        test_acc = accuracy(model, tokenizer, test_texts, data.labels[splits.test], cfg.max_length, meter)
    train_acc = accuracy(model, tokenizer, texts, noisy.labels, cfg.max_length)
    return ClassifyRow(dataset, k, rate, method, seed, test_acc, best[0], best[1], train_acc,
                       meter.share, noisy.realised_rate, len(texts), len(test_texts),
                       round(time.time() - start, 1), round(time.process_time() - start_cpu, 1),
                       cfg.fingerprint())


def prepare(cfg: ClassifyConfig) -> dict[str, tuple[TextDataset, Any]]:
    """Load the corpora, split them, and check every k and rate, then the model source: all before any training.

    The model is checked last because none of the data checks needs it (they run, and are tested,
    where the model package is not installed).
    """
    prepared = {}
    for name in cfg.datasets:
        data = load_text_dataset(name)
        C = len(data.class_names)
        splits = class_balanced_splits(data.labels, C, cfg.test_per_class, cfg.val_per_class,
                                       torch.Generator().manual_seed(cfg.split_seed))
        smallest = int(torch.bincount(data.labels[splits.train_pool], minlength=C).min())
        for k in cfg.shots:
            if k > smallest:
                raise ConfigError(f"shots k={k} is more than the {name} training pool's smallest class "
                                  f"({smallest} examples); lower --shots (or --test-per-class/--val-per-class)")
        for rate in cfg.noise:
            check_label_noise_rate(rate, C)
        prepared[name] = (data, splits)
    check_model_source(cfg.model)
    return prepared


@functools.lru_cache(maxsize=None)
def _context(cfg: ClassifyConfig, name: str) -> tuple[TextDataset, Any, nn.Module, Any]:
    """(data, splits, encoder, tokenizer), loaded once per process."""
    data, splits = prepare(replace(cfg, datasets=(name,)))[name]
    encoder, tokenizer = load_encoder(cfg.model)
    check_target_modules(encoder, cfg.target_modules)
    return data, splits, encoder, tokenizer


def _cell(cfg: ClassifyConfig, name: str, k: int, rate: float, method: str, seed: int) -> ClassifyRow:
    data, splits, encoder, tokenizer = _context(cfg, name)
    return run_one(cfg, data, splits, encoder, tokenizer, name, k, rate, method, seed)


def run_classify(cfg: ClassifyConfig, out_dir: str | Path, log: Callable[[str], None] = print) -> str:
    """Run the grid (reusing finished rows in ``out_dir/results.jsonl``) and return the table."""
    out = Path(out_dir)
    prepare(cfg)                                          # every check before any work
    rows = open_rows(out, cfg, cfg.fingerprint(), ClassifyConfig.AXES, ClassifyRow, log)
    grid = [(n, k, r, m, s) for n in cfg.datasets for k in cfg.shots for r in cfg.noise
            for s in cfg.seeds for m in cfg.methods]

    def compute(todo: list[tuple]):
        log(f"lora classify: {len(todo)} runs to do ({len(grid) - len(todo)} reused), "
            f"{cfg.workers} workers")
        return run_cells(_cell, [(cfg, *cell) for cell in todo], cfg.workers, cfg.threads)

    def done(row: ClassifyRow) -> None:
        log(f"{row.dataset} k={row.shots} noise={row.noise} {row.method} seed={row.seed}: "
            f"test {row.test_acc:.3f} val {row.val_acc:.3f} zeros {row.sparsity:.3f} "
            f"({row.seconds} s, {row.cpu_seconds} s CPU)")

    return write_tables(out, run_grid(rows, grid, compute, done), KEYS, METRICS, HEADERS)
