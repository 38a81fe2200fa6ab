"""Fit-once SAEs for the ``cl+sae`` representation: train, or reload the cached checkpoint.

The checkpoint under ``workdir`` records the SAE config and a fingerprint of the training
features; a rerun with the same config and features reloads it instead of retraining. A damaged
checkpoint (truncated, altered: see ``train.checkpoint``) is reported and retrained over.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import torch

from monorobust.fields import config_diff, to_dict
from monorobust.io import IntegrityWarning
from monorobust.sae.config import SAEConfig
from monorobust.sae.train import latent_map, load_sae, save_sae, train_sae

CHECKPOINT = "sae.safetensors"


def fingerprint(features: torch.Tensor) -> str:
    """SHA-1 of the features' shape and bytes (float32, contiguous)."""
    x = features.detach().float().contiguous().cpu()
    digest = hashlib.sha1(str(tuple(x.shape)).encode())
    digest.update(x.numpy().tobytes())
    return digest.hexdigest()


def fit_cached(train_raw: torch.Tensor, cfg: SAEConfig, seed: int, workdir: str | Path,
               device: torch.device | str = "cpu"):
    """The latent map of an SAE trained on ``train_raw`` (N, d); cached in ``workdir``.

    It trains and maps on ``device``; a cached SAE is reloaded whatever device trained it.
    """
    from monorobust.train.checkpoint import DamagedCheckpoint   # lazily, as sae.train does

    path = Path(workdir) / CHECKPOINT
    fp = fingerprint(train_raw)
    if path.exists():
        try:
            model, _, meta = load_sae(path)
        except DamagedCheckpoint as err:
            warnings.warn(f"SAE checkpoint {path} is damaged ({err.problem}); retraining it",
                          IntegrityWarning, stacklevel=2)
            meta = {}
        if meta and not config_diff({"config": meta.get("config"), "seed": meta.get("seed"),
                                     "data_sha1": meta.get("data_sha1")},
                                    {"config": to_dict(cfg), "seed": seed, "data_sha1": fp}):
            return latent_map(model, cfg, device=device)
    result = train_sae(train_raw, cfg, seed, device=device)
    save_sae(path, result, cfg, {"seed": seed, "data_sha1": fp})
    return latent_map(result.model, cfg)
