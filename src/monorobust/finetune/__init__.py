"""Monosemantic fine-tuning: full fine-tuning with a classifier on g(f(x)) or relu(g(f(x)))."""

from monorobust.finetune.config import HEADS, FinetuneConfig
from monorobust.finetune.loop import EpochRecord, FinetuneModel, FinetuneResult, finetune
from monorobust.finetune.runner import format_table, run_finetune, summarize

__all__ = ["HEADS", "EpochRecord", "FinetuneConfig", "FinetuneModel", "FinetuneResult",
           "finetune", "format_table", "run_finetune", "summarize"]
