"""Real distribution shifts with the same label space (out-of-domain scenarios).

- ``sketch``: an edge-map rendering of each image (Sobel gradient magnitude, rescaled per image
  to [0, 1]), the analogue of ImageNet-Sketch: shape kept, texture and shading gone.
- ``corrupt``: the ImageNet-C corruption suite (Hendrycks & Dietterich 2019) by name and
  severity 1-5, from the ``corrupt-tta`` package, which works on HxWx3 uint8 images.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from monorobust.errors import ConfigError


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


def corrupt(images: torch.Tensor, name: str, severity: int, seed: int) -> torch.Tensor:
    """Apply one ImageNet-C corruption to (N, C, H, W) uint8 images; returns uint8, same shape.

    ``corrupt-tta`` draws from NumPy's global RNG; it is seeded here with ``seed`` and restored
    afterwards, so the result is reproducible and the caller's RNG is left as it was.
    """
    try:
        from corrupt_tta import corrupt as tta_corrupt
    except ImportError:
        raise ConfigError("the 'corrupt' scenario needs corrupt-tta: pip install corrupt-tta==0.1.7 "
                          "(or drop 'corrupt' from the scenarios)") from None
    if name not in corruption_names():
        raise ConfigError(f"unknown corruption {name!r}; known: {', '.join(corruption_names())}")
    if images.dtype != torch.uint8:
        raise ConfigError("corrupt() expects uint8 images")
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        hwc = images.permute(0, 2, 3, 1).numpy()
        out = []
        for img in hwc:
            rgb = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img
            res = np.asarray(tta_corrupt(rgb, severity=int(severity), corruption_name=name))
            res = np.clip(np.rint(res), 0, 255).astype(np.uint8)
            out.append(res.mean(axis=2, keepdims=True).round().astype(np.uint8)
                       if img.shape[2] == 1 else res)
    finally:
        np.random.set_state(state)
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()
