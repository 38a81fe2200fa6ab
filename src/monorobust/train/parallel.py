"""Several pretrainings at once on the CPU, one worker process each (``pretrain.processes``).

A small model's step on the CPU spends about a third of its time in single-threaded Python and
operator dispatch, during which the other cores wait; two pretrainings side by side, each on
half the threads, keep every core busy (measured on 2 cores: about 1.3x the images per second of
one pretraining on both, docs/scale.md). Each worker runs the same ``pretrain`` as the main
process, from the same checkpoints, and sends back its result; its warnings are raised again
here so that they read like the main process's.

The thread count of a pretraining is the run's threads // ``processes``, whatever else is
pending, so a run resumed with one pretraining left repeats what an uninterrupted one computes.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from monorobust.train.checkpoint import checkpoint_epoch, latest_checkpoint
from monorobust.train.config import PretrainConfig
from monorobust.train.pretrain import PretrainResult, pretrain
from monorobust.workers import run_jobs


class PretrainJob(NamedTuple):
    objective: str
    """"cl" or "ncl"."""
    seed: int
    """The pretraining's seed."""
    out_dir: Path
    """Its checkpoint folder (resumed from, as ``pretrain`` does)."""


def side_by_side(cfg: PretrainConfig, fabric) -> bool:
    """Whether pretrainings run ``cfg.processes`` at a time in worker processes: on the CPU, in
    a run of one process (GPUs and DDP pretrain one at a time). ``fabric``: the run's."""
    return cfg.processes > 1 and fabric.device.type == "cpu" and fabric.world_size == 1


def threads_each(cfg: PretrainConfig) -> int:
    """CPU threads of each pretraining that runs beside others: this process's // processes."""
    return max(1, torch.get_num_threads() // cfg.processes)


def pretrain_side_by_side(images, cfg: PretrainConfig, jobs: list[PretrainJob],
                          progress: bool = True) -> list[PretrainResult]:
    """``pretrain(images, cfg, job.objective, job.seed, job.out_dir)`` for every job, in
    ``cfg.processes`` worker processes (fewer when this process may use fewer threads) on
    ``threads_each(cfg)`` threads each; results in order.

    One progress bar counts the epochs of all of them (from their checkpoint files). A job that
    fails, or Ctrl-C, stops the workers and raises here; finished epochs stay checkpointed.
    """
    threads = threads_each(cfg)
    # Never more busy threads than this process may use (OMP_NUM_THREADS=1: one at a time, on
    # the same one thread each, so the same numbers).
    at_once = max(1, min(cfg.processes, torch.get_num_threads()))
    total = len(jobs) * cfg.epochs
    bar = tqdm(total=total, unit="epoch", disable=not progress,
               desc=f"pretrain {len(jobs)} encoders, {at_once} at once")

    def poll() -> None:
        done = sum(_epochs_saved(job.out_dir) for job in jobs)
        if done > bar.n:
            bar.update(done - bar.n)

    poll()
    # A tensor would travel as a shared-memory file descriptor, after which this process's own
    # training loops ran 1.5x slower here (the SAE's, the probes') for as long as the workers
    # lived; as a NumPy array it is copied through the pipe, once per job, and nothing changes.
    sent = images.numpy() if isinstance(images, torch.Tensor) else images
    try:
        outcomes = run_jobs(_pretrain_job, [(sent, cfg, job.objective, job.seed,
                                             str(job.out_dir), threads) for job in jobs],
                            at_once, poll)
    finally:
        bar.close()
    results = []
    for result, caught in outcomes:
        for message, category in caught:
            warnings.warn(message, category, stacklevel=2)
        results.append(result)
    return results


def _epochs_saved(out_dir: Path) -> int:
    latest = latest_checkpoint(out_dir) if out_dir.is_dir() else None
    return 0 if latest is None else checkpoint_epoch(latest)


def _pretrain_job(images, cfg: PretrainConfig, objective: str, seed: int, out_dir: str,
                  threads: int) -> tuple[PretrainResult, list[tuple[str, type]]]:
    """In a worker: one pretraining on ``threads`` threads, its warnings caught for the caller."""
    torch.set_num_threads(threads)
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    # Fabric announces its precision when it starts; the main process has said it once.
    logging.getLogger("lightning_fabric").setLevel(logging.WARNING)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        result = pretrain(images, cfg, objective, seed, out_dir, progress=False)
    return result, [(str(w.message), w.category) for w in caught]
