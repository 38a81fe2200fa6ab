"""Checks of the arrays the public API takes: a wrong shape, dtype, range or length is a
``ConfigError`` naming the argument and the fix, before any work (never a NumPy or torch
traceback from deep inside). Ground floor: every layer may use them.
"""

from __future__ import annotations

import os

import torch

from monorobust.errors import ConfigError


def check_features(x: torch.Tensor, what: str = "features") -> torch.Tensor:
    """(N, D) finite real numbers as float32, or ``ConfigError`` naming ``what``."""
    if not isinstance(x, torch.Tensor):
        raise ConfigError(f"{what} must be a torch.Tensor (N, D), got {type(x).__name__}; "
                          "wrap arrays with torch.as_tensor")
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ConfigError(f"{what} must be a non-empty (N, D) matrix, got shape {tuple(x.shape)}; "
                          "flatten each sample's features into one row")
    if x.dtype == torch.bool or x.is_complex():
        raise ConfigError(f"{what} must be real numbers, got {x.dtype}")
    x = x.float()
    bad = ~torch.isfinite(x)
    if bad.any():
        rows = bad.any(1).nonzero().squeeze(1)
        raise ConfigError(f"{what} contains NaN or inf in {len(rows)} rows (first: row "
                          f"{int(rows[0])}); remove or fix those samples")
    return x


def check_labels(y: torch.Tensor, what: str = "labels", num_classes: int | None = None,
                 n: int | None = None) -> torch.Tensor:
    """(N,) class ids in [0, num_classes) as int64, ``n`` of them where given.

    Whole-number floats and an (N, 1) column (as array files often hold them) are accepted.
    """
    if not isinstance(y, torch.Tensor):
        raise ConfigError(f"{what} must be a torch.Tensor (N,), got {type(y).__name__}")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ConfigError(f"{what} must be a 1-D array of class indices, got shape {tuple(y.shape)}")
    if n is not None and len(y) != n:
        raise ConfigError(f"{what} has {len(y)} labels but there are {n} samples; pass one "
                          "label per sample")
    if y.dtype.is_floating_point:
        if not torch.isfinite(y).all() or not (y == y.round()).all():
            raise ConfigError(f"{what} must be integer class indices 0..C-1, got non-integer values")
    elif y.dtype == torch.bool or y.is_complex():
        raise ConfigError(f"{what} must be integer class indices 0..C-1, got {y.dtype}")
    y = y.long()
    if len(y) and int(y.min()) < 0:
        raise ConfigError(f"{what} contains negative labels (min {int(y.min())}); use class "
                          "indices 0..C-1")
    if num_classes is not None and num_classes < 2:
        raise ConfigError(f"num_classes must be >= 2, got {num_classes}")
    if num_classes is not None and len(y) and int(y.max()) >= num_classes:
        raise ConfigError(f"{what} contains label {int(y.max())}, out of range for "
                          f"{num_classes} classes (0..{num_classes - 1}); remap the labels")
    return y


def check_images(images: torch.Tensor, what: str = "images") -> None:
    """uint8 (N, C, H, W) with C in 1..4: catches float 0-255 images and channels-last arrays.

    ``images`` is a tensor, or an object that decodes lazily but states its ``dtype`` and
    ``shape`` (an image folder streamed from disk)."""
    shape = getattr(images, "shape", None)
    if shape is None or not hasattr(images, "dtype") or len(shape) != 4:
        got = tuple(shape) if shape is not None else type(images).__name__
        raise ConfigError(f"{what} must be a 4-D tensor (N, C, H, W), got {got}")
    if images.dtype != torch.uint8:
        raise ConfigError(f"{what} must be uint8 in 0-255 (N, C, H, W), got {images.dtype}; "
                          "convert with (x * 255).round().to(torch.uint8) for floats in [0, 1], "
                          "or .to(torch.uint8) for floats in 0-255")
    if images.shape[1] > 4 and images.shape[-1] <= 4:
        raise ConfigError(f"{what} look channels-last {tuple(images.shape)}; pass (N, C, H, W), "
                          "e.g. images.permute(0, 3, 1, 2)")


def check_device(device: torch.device | str, what: str = "device") -> torch.device:
    """A ``torch.device`` that exists here, or ``ConfigError`` naming ``what`` and the fix."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(f"{what} {device!r} is not a device ({err}); use 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{what} {device!r}: no CUDA GPU is visible here "
                          "(torch.cuda.is_available() is False); use 'cpu'")
    return dev


def check_memory_need(need: int, device_type: str, what: str, purpose: str, fix: str) -> None:
    """ConfigError where ``need`` bytes (what ``what`` needs at least, ``purpose``) exceed the
    total memory of the ``device_type`` device it would run on; nothing where that is unknown."""
    total = device_memory_bytes(device_type)
    if total is not None and need > total:
        raise ConfigError(f"{what} needs at least {need / 2**30:.1f} GiB {purpose}, more than "
                          f"the {total / 2**30:.1f} GiB of {device_type} memory here; {fix}")


def device_memory_bytes(device_type: str) -> int | None:
    """The total memory of the first ``device_type`` device ("cuda": its GPU memory; "cpu": the
    machine's RAM); None where it cannot be told."""
    if device_type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory
    if device_type == "cpu":
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):    # not a POSIX system
            return None
    return None
