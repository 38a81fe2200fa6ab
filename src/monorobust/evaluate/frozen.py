"""Raw features of a frozen pretrained backbone (``pretrain.encoder: hf:...``), cached in the run.

The backbone does not depend on the seed, so the training, validation and augmented-view
features are extracted once per run into ``features/frozen-raw-KEY.safetensors`` (KEY: a hash of
the model id, the data config and the augmentations); the test sets, whose perturbations are
drawn per seed, go to ``features/frozen-raw-KEY-seedS.safetensors`` with their labels, so a
rerun neither perturbs nor encodes again. ``views`` (2, N_train, D) are the features of two
SimCLR views of every training image (drawn once, from a fixed seed): what the heads of
``frozen+cl`` and ``frozen+ncl`` train on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

import torch

from monorobust.evaluate.features import extract
from monorobust.evaluate.grid import FeatureSet
from monorobust.fields import to_dict
from monorobust.io import atomic_write_bytes, checked_cache_bytes, read_checked_cache
from monorobust.seeding import derive_seed

VIEWS = 2
"""Augmented views encoded per training image (one positive pair)."""


class FrozenFeatures(NamedTuple):
    raw: FeatureSet
    views: torch.Tensor
    """(VIEWS, N_train, D): backbone features of augmented training images."""


def cache_key(model: str, data: Any, augment: Any) -> str:
    """Hash of what the cached features depend on (not the seed: the backbone is frozen)."""
    blob = json.dumps({"model": model, "data": to_dict(data), "augment": to_dict(augment),
                       "views": VIEWS}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def encode_views(encode, images, augment, batch_size: int = 512, device="cpu") -> torch.Tensor:
    """(VIEWS, N, D) features of VIEWS SimCLR views of ``images`` (uint8 or float in [0, 1])."""
    from monorobust.train.augment import simclr_augment

    out = []
    for v in range(VIEWS):
        gen = torch.Generator(device=device).manual_seed(derive_seed(0, v, 7))
        feats = []
        for i in range(0, len(images), batch_size):
            x = images[i:i + batch_size].to(device)
            x = x.float().div_(255) if x.dtype == torch.uint8 else x.float()
            feats.append(extract(encode, simclr_augment(x, augment, gen), batch_size, device))
        out.append(torch.cat(feats))
    return torch.stack(out)


def _load(path: Path) -> dict[str, torch.Tensor] | None:
    """The cache, or None to extract again (none, damaged: with a warning, or from before
    caches carried a checksum)."""
    return read_checked_cache(path)


def _save(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, checked_cache_bytes(tensors))


def frozen_features(encoder: str, data: Any, augment: Any, splits, seed: int,
                    test_sets: Callable[[], Iterable[tuple[str, Any, Any]]], root: str | Path,
                    device: str | torch.device = "cpu") -> FrozenFeatures:
    """Raw backbone features of every split and test set, and the training views; cached
    under ``root/features`` (see the module docstring). ``test_sets`` is called only when the
    seed's test features are not cached yet."""
    from monorobust.models.hf import load_backbone, model_id

    key = cache_key(model_id(encoder), data, augment)
    base = Path(root) / "features" / f"frozen-raw-{key}.safetensors"
    per_seed = base.with_name(f"frozen-raw-{key}-seed{seed}.safetensors")
    shared, tests = _load(base), _load(per_seed)
    backbone = None
    if shared is None or tests is None:
        backbone = load_backbone(encoder).to(device)
    if shared is None:
        shared = {"train": extract(backbone, splits.train.images, device=device),
                  "val": extract(backbone, splits.val.images, device=device),
                  "views": encode_views(backbone, splits.train.images, augment, device=device)}
        _save(base, shared)
    if tests is None:
        tests = {}
        for name, images, labels in test_sets():
            tests[f"test/{name}"] = extract(backbone, images, device=device)
            tests[f"labels/{name}"] = torch.as_tensor(labels)
        _save(per_seed, tests)
    names = [k.removeprefix("test/") for k in tests if k.startswith("test/")]
    names.sort(key=lambda n: n != "clean")            # the clean set first, as iter_test_sets
    raw = FeatureSet(shared["train"], splits.train.labels, shared["val"], splits.val.labels,
                     {n: tests[f"test/{n}"] for n in names},
                     {n: tests[f"labels/{n}"] for n in names}, data)
    return FrozenFeatures(raw, shared["views"])
