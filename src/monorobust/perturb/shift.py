"""Real distribution shifts with the same label space (out-of-domain scenarios).

- ``sketch``: an edge-map rendering of each image (Sobel gradient magnitude, rescaled per image
  to [0, 1]), the analogue of ImageNet-Sketch: shape kept, texture and shading gone.
- ``corrupt``: the ImageNet-C corruption suite (Hendrycks & Dietterich 2019) by name and
  severity 1-5, on HxWx3 uint8 images, one at a time, with ImageNet-C's 224-px tables
  (``corrupt-tta``) or CIFAR-10-C's 32-px ones (``corruption_ops``, ``corruption_weather``), by
  calibration (``perturb.calibration``; ``auto``: CIFAR-10-C's up to 64 px); ``corrupt_each``
  runs several (corruption, severity, seed) jobs in worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from monorobust.errors import ConfigError
from monorobust.perturb.calibration import resolve_supported
from monorobust.workers import run_jobs


def sketch(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) float in [0, 1] -> edge maps of the same shape, each rescaled to [0, 1]."""
    gray = images.mean(dim=1, keepdim=True)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]],
                      dtype=images.dtype, device=images.device).view(1, 1, 3, 3)
    padded = F.pad(gray, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(padded, kx)
    gy = F.conv2d(padded, kx.transpose(2, 3))
    mag = (gx.square() + gy.square()).sqrt()
    peak = mag.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-8)
    return (mag / peak).expand_as(images).contiguous()


def corruption_names() -> list[str]:
    try:
        from corrupt_tta import corruption_dict
    except ImportError:
        return []
    return sorted(corruption_dict)


def corrupt(images: torch.Tensor, name: str, severity: int, seed: int,
            calibration: str = "auto") -> torch.Tensor:
    """Apply one ImageNet-C corruption to (N, C, H, W) uint8 images; returns uint8, same shape.

    ``calibration``: whose table of parameters (``perturb.calibration``: "imagenet-c",
    "cifar-10-c", or "auto", CIFAR-10-C's for images up to 64 px). The corruptions draw from
    NumPy's global RNG; it is seeded here with ``seed`` and restored afterwards, so the result
    is reproducible and the caller's RNG is left as it was.
    """
    return corrupt_each(images, [(name, severity, seed)], workers=1, calibration=calibration)[0]


def corrupt_each(images: torch.Tensor, jobs: Sequence[tuple[str, int, int]],
                 workers: int | None = None, calibration: str = "auto") -> list[torch.Tensor]:
    """``corrupt(images, name, severity, seed, calibration)`` for each ``(name, severity, seed)``
    of ``jobs``.

    The corruptions work image by image in Python, on one core (about 7 s for the quick
    preset's 6 corruptions x 3 severities of 2,000 28x28 images; docs/corruptions.md). A name
    without a table under the resolved calibration is refused before any job runs. The jobs are
    independent, each seeded alone, so ``workers`` processes give the same results as one after
    the other. ``workers`` defaults to ``set_corrupt_workers``'s setting: 1 (this process)
    unless the command line turned processes on.
    """
    try:
        from corrupt_tta import corruption_dict  # noqa: F401
    except ImportError:
        raise ConfigError("the 'corrupt' scenario needs corrupt-tta: pip install corrupt-tta==0.1.7 "
                          "(or drop 'corrupt' from the scenarios)") from None
    known = corruption_names()
    for name, severity, _ in jobs:
        if name not in known:
            raise ConfigError(f"unknown corruption {name!r}; known: {', '.join(known)}")
        if isinstance(severity, bool) or int(severity) != severity or not 1 <= severity <= 5:
            raise ConfigError(f"corruption severity must be a whole number 1-5, got {severity!r}")
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ConfigError("corrupt() expects (N, C, H, W) uint8 images")
    resolved = resolve_supported([name for name, _, _ in jobs], calibration, *images.shape[-2:])
    hwc = images.permute(0, 2, 3, 1).contiguous().numpy()
    args = [(hwc, name, int(severity), int(seed), resolved) for name, severity, seed in jobs]
    if workers is None:
        workers = torch.get_num_threads() if _WORKERS is None else _WORKERS
    if min(len(jobs), workers) <= 1 or len(hwc) == 0:
        done = [_corrupt_array(*a) for a in args]
    else:
        done = run_jobs(_corrupt_array, args, workers)
    return [torch.from_numpy(d).permute(0, 3, 1, 2).contiguous() for d in done]


_WORKERS: int | None = 1


def set_corrupt_workers(workers: int | None) -> None:
    """How many processes ``corrupt_each`` uses by default: a count, or None for one per thread
    torch may use (``torch.get_num_threads()``, the cores the run was given). They come from
    ``monorobust.workers``' shared pool (spawned: a script needs its work under
    ``if __name__ == "__main__":``); the ``monorobust`` command turns them on."""
    global _WORKERS
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ConfigError(f"corrupt workers must be a whole number >= 1 or None, got {workers!r}")
    _WORKERS = workers


def _corrupt_array(hwc: np.ndarray, name: str, severity: int, seed: int,
                   calibration: str) -> np.ndarray:
    """One corruption of (N, H, W, C) uint8 images under a resolved ``calibration``, NumPy's
    global RNG seeded with ``seed`` (and restored after); in the caller's process or in a
    worker. Greyscale images go through as three equal channels, averaged back."""
    from corrupt_tta import corrupt as tta_corrupt

    from monorobust.perturb.calibration import cifar_10_c

    cifar = calibration == "cifar-10-c"
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        out = []
        for img in hwc:
            rgb = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img
            res = np.asarray(cifar_10_c(rgb, name, severity) if cifar
                             else tta_corrupt(rgb, severity=severity, corruption_name=name))
            res = np.clip(np.rint(res), 0, 255).astype(np.uint8)
            out.append(res.mean(axis=2, keepdims=True).round().astype(np.uint8)
                       if img.shape[2] == 1 else res)
    finally:
        np.random.set_state(state)
    return np.stack(out) if out else hwc.copy()
