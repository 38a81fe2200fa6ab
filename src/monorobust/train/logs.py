"""Per-step pretraining curves through Lightning Fabric's loggers.

Every optimiser step of rank 0 becomes one row ``step, epoch, loss, lr, images_per_second`` of
``CHECKPOINTS/logs/version_K/metrics.csv`` (``CHECKPOINTS`` is the encoder's checkpoint folder,
``RunDir.checkpoints(objective, seed)``); with ``pretrain.logger: tensorboard`` the same values
also go to TensorBoard event files in ``CHECKPOINTS/tensorboard/version_K``
(``tensorboard --logdir RUN/checkpoints``).

Rows are written once per epoch, after the epoch's losses are read off the device in one go (a
per-step ``.item()`` would stall the GPU every step). Each call of ``pretrain`` that trains
starts a new version (Lightning's numbering; its CSV writer would delete an existing file, not
append): a resumed run's ``version_1`` continues the ``step`` column from the epoch after its
checkpoint, and ``read_curve`` joins the versions in order, keeping the last row of a step (an
epoch run again after a damaged checkpoint appears in two versions).
``images_per_second`` is the host's wall clock between consecutive steps (the first step of an
epoch: since the epoch began), with both views of each image counted once, as in run.json.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from monorobust.errors import ConfigError

LOGGERS = ("csv", "tensorboard")
LOG_DIR = "logs"
"""Relative to the checkpoint folder: ``version_K/metrics.csv`` inside it."""
CSV_NAME = "metrics.csv"


def check_logger(kind: str) -> None:
    if kind not in LOGGERS:
        raise ConfigError(f"pretrain.logger must be one of {', '.join(LOGGERS)}, got {kind!r}")
    if kind == "tensorboard" and not (importlib.util.find_spec("tensorboard")
                                      or importlib.util.find_spec("tensorboardX")):
        raise ConfigError("pretrain.logger tensorboard needs TensorBoard: pip install tensorboard "
                          "(or use --logger csv, the default)")


class StepLog:
    """Collects one epoch's steps and writes them to the loggers at its end."""

    def __init__(self, kind: str, folder: str | Path, images_per_step: int):
        from lightning_fabric.loggers import CSVLogger, TensorBoardLogger

        check_logger(kind)
        self.loggers = [CSVLogger(folder, name=LOG_DIR)]      # the next free version_K
        if kind == "tensorboard":
            self.loggers.append(TensorBoardLogger(folder, name="tensorboard"))
        self.images_per_step = images_per_step
        self._loss: list[torch.Tensor] = []
        self._lr: list[float] = []
        self._time: list[float] = []

    def step(self, loss: torch.Tensor, lr: float, now: float) -> None:
        self._loss.append(loss.detach())
        self._lr.append(lr)
        self._time.append(now)

    def end_epoch(self, epoch: int, first_step: int, started: float) -> None:
        if not self._loss:
            return
        losses = torch.stack(self._loss).float().cpu().tolist()   # one device sync per epoch
        times = [started, *self._time]
        for i, (loss, lr) in enumerate(zip(losses, self._lr)):
            dt = max(times[i + 1] - times[i], 1e-9)
            for logger in self.loggers:
                logger.log_metrics({"epoch": epoch, "loss": loss, "lr": lr,
                                    "images_per_second": self.images_per_step / dt},
                                   step=first_step + i)
        for logger in self.loggers:
            logger.save()
        self._loss, self._lr, self._time = [], [], []

    def close(self) -> None:
        if not self._lr and not any(Path(lg.log_dir).exists() for lg in self.loggers[:1]):
            return                          # nothing trained in this call: no empty version
        for logger in self.loggers:
            logger.finalize("success")


def read_curve(checkpoints: str | Path):
    """The per-step rows of one encoder (a DataFrame: step, epoch, loss, lr, images_per_second),
    the last row of each step kept; None when its CSV is absent or unreadable."""
    import pandas as pd

    def version(p: Path) -> int:
        tail = p.parent.name.removeprefix("version_")
        return int(tail) if tail.isdigit() else -1

    paths = sorted((Path(checkpoints) / LOG_DIR).glob(f"version_*/{CSV_NAME}"), key=version)
    frames = []
    for path in paths:
        try:
            df = pd.read_csv(path)
        except (ValueError, OSError):
            continue
        if "step" in df and "loss" in df:
            frames.append(df)
    if not frames:
        return None
    df = pd.concat(frames, ignore_index=True)
    return df.drop_duplicates("step", keep="last").sort_values("step").reset_index(drop=True)
