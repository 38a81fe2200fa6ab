"""Training, evaluation and checkpoints of the TopK sparse autoencoder.

``train_sae(features, cfg, seed)`` fits a ``TopKSAE`` to (N, d) features with Adam on the
normalised MSE (+ optional AuxK), keeping decoder columns at unit norm and tracking dead
latents. The same features, config and seed give the same SAE on CPU. ``device`` moves the
features there once and trains there (a run on a GPU: ``monorobust run`` passes its device);
the initialisation and the minibatch order are drawn on the CPU, the same for every device.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from monorobust.checks import check_features
from monorobust.errors import ConfigError
from monorobust.sae.config import SAEConfig
from monorobust.sae.loss import RunningFVU, auxk_loss, normalized_mse
from monorobust.sae.model import TopKSAE

KIND = "monorobust.sae"


class SAEStats(NamedTuple):
    fvu: float
    """Fraction of variance unexplained on the evaluated features."""
    nmse: float
    """Normalised MSE, mean_i ||h_i - recon_i||^2 / ||h_i||^2 (the training loss)."""
    mean_l0: float
    """Mean number of non-zero latents per sample (at most k)."""
    dead_fraction: float
    """Share of latents that fire on no evaluated sample."""


class SAEResult(NamedTuple):
    model: TopKSAE
    stats: SAEStats
    """Measured on the training features after training."""
    tracked_dead_fraction: float
    """Share of latents not fired in the last ``cfg.dead_threshold`` training samples."""
    losses: list[float]
    """Mean training loss (normalised MSE) per epoch."""
    steps: int
    samples: int
    """Training samples processed (steps x batch size)."""
    seconds: float
    """Wall time of the optimisation loop."""

    @property
    def samples_per_second(self) -> float:
        return self.samples / max(self.seconds, 1e-9)


def preprocess(features: torch.Tensor, cfg: SAEConfig) -> torch.Tensor:
    """float32 features, L2-normalised per row when ``cfg.normalize_input`` (the authors' input)."""
    x = features.float()
    return F.normalize(x, dim=-1) if cfg.normalize_input else x


def check_sae_input(features: torch.Tensor, cfg: SAEConfig,
                    what: str = "SAE input") -> torch.Tensor:
    """``check_features``, and refuse features whose rows are all the same once preprocessed:
    FVU (unexplained over total variance) is undefined without variance (it read 0.0, a perfect
    fit, with every latent dead, or ~1e31)."""
    x = check_features(features, what)
    h = preprocess(x, cfg)
    if float((h.amax(0) - h.amin(0)).max()) <= 1e-6 * float(h.abs().max()):
        raise ConfigError(f"{what} has no variance: all {len(h)} rows are the same"
                          f"{' after L2 normalisation' if cfg.normalize_input else ''}, so FVU is "
                          "undefined; pass features that vary across samples")
    return x


def total_steps(n: int, cfg: SAEConfig) -> int:
    return cfg.steps if cfg.steps is not None else cfg.epochs * max(1, n // min(cfg.batch_size, n))


def train_sae(features: torch.Tensor, cfg: SAEConfig, seed: int, progress: bool = False,
              device: torch.device | str = "cpu") -> SAEResult:
    """Fit a TopK SAE to ``features`` (N, d) (preprocessed with ``preprocess``) on ``device``."""
    h = preprocess(check_sae_input(features.to(device), cfg), cfg)
    n, d = h.shape
    gen = torch.Generator().manual_seed(seed)
    width, k = cfg.resolve(d)
    model = TopKSAE(d, width, k, generator=gen).to(h.device)
    with torch.no_grad():
        # openai starts b_pre at the geometric median; the mean is a close, cheaper start.
        model.b_pre.copy_(h[torch.randperm(n, generator=gen)[:65536].to(h.device)].mean(0))
    opt = make_optimizer(model, cfg)
    steps, batch = total_steps(n, cfg), min(cfg.batch_size, n)
    since_fired = torch.zeros(width, dtype=torch.long, device=h.device)
    # The epoch's loss is summed on the device (float64: the sum a Python float would keep) and
    # read once an epoch, so that a step never makes the host wait for a GPU.
    losses, epoch_loss, epoch_steps = [], torch.zeros((), dtype=torch.float64, device=h.device), 0
    perm, pos = torch.randperm(n, generator=gen).to(h.device), 0
    bar = _bar(steps, progress)
    started = time.perf_counter()
    for step in range(steps):
        if pos + batch > n:
            losses.append(_epoch_mean(epoch_loss, epoch_steps, bar))
            _check_not_diverged(losses[-1], step, steps, cfg)
            epoch_loss, epoch_steps = torch.zeros_like(epoch_loss), 0
            perm, pos = torch.randperm(n, generator=gen).to(h.device), 0
        x = h.index_select(0, perm[pos:pos + batch])
        pos += batch
        epoch_loss += sae_step(model, opt, x, since_fired, step, cfg)
        epoch_steps += 1
        if bar is not None:
            bar.update(1)
    seconds = time.perf_counter() - started
    if epoch_steps:
        losses.append(_epoch_mean(epoch_loss, epoch_steps, bar))
        _check_not_diverged(losses[-1], steps, steps, cfg)
    if bar is not None:
        bar.close()
    stats = evaluate_sae(model, h, preprocessed=True)
    tracked = float((since_fired >= cfg.dead_threshold).float().mean())
    return SAEResult(model.eval(), stats, tracked, losses, steps, steps * batch, seconds)


def make_optimizer(model: TopKSAE, cfg: SAEConfig) -> torch.optim.Optimizer:
    """Adam with openai's epsilon; the fused kernel where this PyTorch has it."""
    try:
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, eps=6.25e-10, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(model.parameters(), lr=cfg.lr, eps=6.25e-10)


def sae_step(model: TopKSAE, opt: torch.optim.Optimizer, x: torch.Tensor,
             since_fired: torch.Tensor, step: int, cfg: SAEConfig) -> torch.Tensor:
    """One optimiser step on the batch ``x`` (N, d); updates ``since_fired`` (samples since
    each latent last fired) in place; returns the batch's normalised MSE (a detached scalar on
    ``x``'s device: reading it is the caller's choice, and on a GPU a wait)."""
    for group in opt.param_groups:
        group["lr"] = cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup_steps))
    out = model(x)
    # Latents that fired (value > 0) in this batch restart their count; the others age.
    fired = torch.zeros(len(since_fired), dtype=x.dtype, device=x.device).index_add_(
        0, out.indices.flatten(), out.values.flatten()) > 0
    since_fired.add_(len(x)).masked_fill_(fired, 0)
    total = out.loss
    if cfg.aux_k is not None and cfg.aux_weight > 0:
        dead = since_fired >= cfg.dead_threshold
        if not _host_reads_free(x.device):
            total = total + cfg.aux_weight * _auxk_masked(model, x, out.recon, dead, cfg.aux_k)
        elif bool(dead.any()):
            total = total + cfg.aux_weight * _auxk(model, x, out.recon, dead, cfg.aux_k)
    opt.zero_grad(set_to_none=True)
    total.backward()
    model.project_decoder_grad_()
    opt.step()
    model.normalize_decoder_()
    return out.loss.detach()


def _host_reads_free(device: torch.device) -> bool:
    """Whether reading a tensor's value costs the host nothing on ``device`` (a CPU), so that
    AuxK can skip a batch without dead latents and work on the dead ones only; on a GPU the
    read would make the host wait every step."""
    return device.type == "cpu"


def _auxk(model: TopKSAE, x: torch.Tensor, recon: torch.Tensor, dead: torch.Tensor,
          aux_k: int) -> torch.Tensor:
    """AuxK loss: the top ``aux_k`` dead latents reconstruct the residual ``x - recon``."""
    dead_idx = dead.nonzero().squeeze(1)
    pre = torch.addmm(model.b_lat[dead_idx], x - model.b_pre, model.W_enc[dead_idx].T)
    vals, j = pre.topk(min(aux_k, len(dead_idx)), dim=-1, sorted=False)
    lat = torch.zeros_like(pre).scatter(1, j, vals.relu())
    return auxk_loss(lat @ model.W_dec[:, dead_idx].T, x - recon)


def _auxk_masked(model: TopKSAE, x: torch.Tensor, recon: torch.Tensor, dead: torch.Tensor,
                 aux_k: int) -> torch.Tensor:
    """``_auxk`` without reading ``dead`` on the host: every latent's pre-activation with the
    live ones at -inf (so TopK keeps dead ones, and ReLU zeroes any live one it must take when
    fewer than ``aux_k`` are dead), times whether any latent is dead (the loss is 0 then, as
    ``_auxk`` is skipped). The same loss and gradients up to rounding; dense over the width."""
    pre = model.preacts(x).masked_fill(~dead, float("-inf"))
    vals, j = pre.topk(min(aux_k, model.width), dim=-1, sorted=False)
    aux_recon = F.embedding_bag(j, model.W_dec.T.contiguous(), per_sample_weights=vals.relu(),
                                mode="sum")
    return auxk_loss(aux_recon, x - recon) * dead.any()


def _check_not_diverged(loss: float, step: int, steps: int, cfg: SAEConfig) -> None:
    """An error, before any checkpoint, when an epoch's mean loss is NaN or inf (read once an
    epoch, with the loss: a step never waits for the GPU to check it)."""
    if not math.isfinite(loss):
        raise ConfigError(f"the SAE diverged: its loss is {loss} at step {step} of {steps} "
                          f"(sae.lr {cfg.lr}); lower sae.lr or raise sae.warmup_steps")


def _epoch_mean(total: torch.Tensor, steps: int, bar) -> float:
    """The epoch's mean loss (one read of the device), shown on the progress bar if any."""
    mean = float(total) / max(1, steps)
    if bar is not None:
        bar.set_postfix(nmse=f"{mean:.4f}")
    return mean


@torch.no_grad()
def evaluate_sae(model: TopKSAE, features: torch.Tensor, batch_size: int = 8192,
                 preprocessed: bool = False, cfg: SAEConfig | None = None) -> SAEStats:
    """FVU, normalised MSE, mean L0 and dead fraction of ``model`` on ``features`` (N, d)."""
    cfg = cfg or SAEConfig()
    h = features if preprocessed else preprocess(check_sae_input(features, cfg), cfg)
    running, nmse_sum, l0_sum = RunningFVU(), 0.0, 0.0
    fired = torch.zeros(model.width, dtype=torch.bool, device=h.device)
    for i in range(0, len(h), batch_size):
        x = h[i:i + batch_size]
        lat = model.encode(x)
        recon = model.decode(lat)
        running.update(recon, x)
        nmse_sum += float(normalized_mse(recon, x)) * len(x)
        active = lat > 0
        l0_sum += float(active.sum())
        fired |= active.any(0)
    n = max(1, len(h))
    return SAEStats(running.value(), nmse_sum / n, l0_sum / n, float((~fired).float().mean()))


def latent_map(model: TopKSAE, cfg: SAEConfig, batch_size: int = 8192,
               device: torch.device | str | None = None):
    """The feature map raw (N, d) -> dense latents (N, n) of a trained SAE (no gradients),
    computed on ``device`` (default: the model's) and returned on the device of ``raw``."""
    if device is not None:
        model = model.to(device)
    dev = model.W_enc.device

    @torch.no_grad()
    def fmap(raw: torch.Tensor) -> torch.Tensor:
        if not len(raw):
            return torch.zeros(0, model.width)
        return torch.cat([model.encode(preprocess(raw[i:i + batch_size].to(dev), cfg))
                          .to(raw.device) for i in range(0, len(raw), batch_size)])

    return fmap


def save_sae(path: str | Path, result: SAEResult, cfg: SAEConfig, extra: dict[str, Any] | None = None) -> None:
    """A self-describing checkpoint: tensors + config, equations, statistics in the header."""
    from monorobust.train.checkpoint import save_checkpoint

    m = result.model
    meta = {"kind": KIND, "d_in": m.d_in, "width": m.width, "k": m.k,
            "model": "latents = ReLU(TopK(W_enc (h - b_pre) + b_lat, k)); recon = W_dec latents + b_pre",
            "input": "L2-normalised rows" if cfg.normalize_input else "raw rows",
            "config": asdict(cfg), "stats": result.stats._asdict(),
            "tracked_dead_fraction": result.tracked_dead_fraction, "losses": result.losses,
            "steps": result.steps, "seconds": result.seconds, **(extra or {})}
    save_checkpoint(path, {"model": m.state_dict()}, meta)


def load_sae(path: str | Path) -> tuple[TopKSAE, SAEConfig, dict[str, Any]]:
    """``(model, config, metadata)`` of a checkpoint written by ``save_sae``; never unpickles."""
    from monorobust.fields import build_dataclass
    from monorobust.train.checkpoint import load_checkpoint

    states, meta = load_checkpoint(path)
    if meta.get("kind") != KIND:
        raise ConfigError(f"{path} is not a monorobust SAE checkpoint (kind {meta.get('kind')!r})")
    cfg = build_dataclass(SAEConfig, meta["config"], "sae")
    model = TopKSAE(meta["d_in"], meta["width"], meta["k"])
    model.load_state_dict(states["model"])
    return model.eval(), cfg, meta


def _bar(steps: int, progress: bool):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=steps, desc="sae")
