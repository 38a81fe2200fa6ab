"""Feature gallery (the paper's Figure 1a): the most and least class-pure dimensions of a
representation, each with its top-activating test images and the labels of its top activations.

Purity is ``metrics.topk_purity_per_dim``: the majority label's share among a dimension's ``k``
most activated test samples (the same k = 100 as the metrics table).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from monorobust.errors import ConfigError
from monorobust.metrics import ACTIVE_THRESHOLD, topk_purity_per_dim
from monorobust.report.style import Figure, new_figure, render

TOPK = 100


class Features(NamedTuple):
    """Clean test features of one representation and seed."""

    features: torch.Tensor
    """(N, D) float."""
    labels: torch.Tensor
    """(N,) int64."""


def load_features(path: str | Path) -> Features:
    """The file's tensors; a ConfigError naming it when it is damaged (truncated, altered: its
    recorded SHA-256 differs) or lacks one of them."""
    import json

    from safetensors import SafetensorError
    from safetensors.torch import load

    from monorobust.io import tensor_checksum
    from monorobust.rundir import FEATURES_CHECKSUM

    def damaged(problem: str) -> ConfigError:
        return ConfigError(f"{path} is damaged ({problem}); delete it to leave it out of the "
                           "report")

    try:
        raw = Path(path).read_bytes()
        t = load(raw)
        meta = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")]).get("__metadata__") or {}
        features = Features(t["features"].float(), t["labels"].long())
    except (SafetensorError, OSError, KeyError, ValueError) as err:
        raise damaged(f"truncated / not a safetensors file, or no 'features' and 'labels': "
                      f"{err}") from None
    expected = meta.get(FEATURES_CHECKSUM)          # None: saved before features had one
    if expected is not None and tensor_checksum(t) != expected:
        raise damaged("checksum mismatch: its tensors changed after they were written")
    return features


class Dim(NamedTuple):
    index: int
    purity: float
    kind: str
    """"most pure" or "least pure"."""


def pick_dims(features: torch.Tensor, labels: torch.Tensor, num_classes: int, n: int = 2,
              k: int = TOPK) -> list[Dim]:
    """The ``n`` most and ``n`` least pure non-constant dimensions (fewer when D < 2n)."""
    purity = topk_purity_per_dim(features, labels, k, num_classes)
    ok = ~torch.isnan(purity)
    # Prefer dimensions whose top k are real activations, not ties at zero (sparse codes).
    busy = ok & ((features.abs() > ACTIVE_THRESHOLD).sum(0) >= min(k, len(labels)))
    valid = torch.nonzero(busy if int(busy.sum()) >= 2 * n else ok).squeeze(1)
    if len(valid) == 0:
        return []
    order = valid[torch.argsort(purity[valid], descending=True, stable=True)]
    n = min(n, len(order) // 2) or 1
    most = [Dim(int(d), float(purity[d]), "most pure") for d in order[:n]]
    least = [Dim(int(d), float(purity[d]), "least pure") for d in order[-n:].flip(0)]
    return most + [d for d in least if d.index not in {m.index for m in most}]


def montage(images: torch.Tensor, index: list[int | None], pad: int = 2) -> np.ndarray:
    """Thumbnails of ``images[i]`` (uint8 (N, C, H, W)) side by side on white; None: blank.

    One image per row of the gallery instead of one axes per thumbnail keeps rendering fast.
    """
    c, h, w = images.shape[1:]
    out = np.full((h, len(index) * (w + pad), 3), 255, dtype=np.uint8)
    for j, i in enumerate(index):
        if i is None:
            continue
        a = images[i].numpy()
        a = np.repeat(a[:1], 3, 0) if c == 1 else a[:3]
        out[:, j * (w + pad): j * (w + pad) + w] = np.transpose(a, (1, 2, 0))
    return out


def gallery_figure(name: str, title: str, feats: Features, classes: list[str],
                   images: torch.Tensor | None, n_dims: int = 2, n_images: int = 8,
                   k: int = TOPK) -> Figure:
    """Rows: the most and least pure dimensions. Columns: top-activating test images (their
    true label above each) and the label histogram of the dimension's top-k activations."""
    x, y = feats.features, feats.labels
    C = len(classes)
    kk = min(k, len(y))
    dims = pick_dims(x, y, C, n_dims, k)
    caption = (f"{title}: rows are the {n_dims} most and {n_dims} least class-pure dimensions "
               f"(top-{kk} purity, among dimensions active on at least that many samples "
               "where there are enough); images are each dimension's most activating clean "
               "test images with their true label (blank: not active); bars count the true "
               f"labels among its top-{kk} activations (majority class dark).")
    show = images is not None
    cols = 2 if show else 1
    ratios = [n_images * 0.95, 3.2] if show else [1.0]
    fig, axes = new_figure(len(dims), cols, (sum(ratios) + 1.2 if show else 5, 1.5 * len(dims) + 0.6),
                           gridspec_kw={"width_ratios": ratios, "wspace": 0.08, "hspace": 0.5})
    for r, d in enumerate(dims):
        col = x[:, d.index]
        top = torch.argsort(col, descending=True, stable=True)
        active = float((col.abs() > ACTIVE_THRESHOLD).float().mean())
        if show:
            ax = axes[r][0]
            # Blank where fewer samples are active than there are thumbnails.
            idx = [int(top[c]) if c < len(top) and abs(float(col[top[c]])) > ACTIVE_THRESHOLD
                   else None for c in range(n_images)]
            ax.imshow(montage(images, idx), interpolation="nearest")
            step = images.shape[3] + 2
            for j, i in enumerate(idx):
                if i is not None:
                    ax.text(j * step + images.shape[3] / 2, -1, classes[int(y[i])][:10],
                            ha="center", va="bottom", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            ax.set_ylabel(f"{d.kind}\ndim {d.index}\npurity {d.purity:.2f}", fontsize=8,
                          rotation=0, ha="right", va="center")
        ax = axes[r][cols - 1]
        counts = torch.bincount(y[top[:kk]], minlength=C).numpy()
        shade = ["#0072B2" if v == counts.max() else "#9BC4E2" for v in counts]
        ax.bar(range(C), counts, color=shade)
        ax.set_title(f"labels of top {kk}; active on {active:.0%}"
                     + ("" if show else f" (dim {d.index}, {d.kind}, purity {d.purity:.2f})"),
                     fontsize=8)
        ax.set_yticks([])
        if C <= 20 and r == len(dims) - 1:
            ax.set_xticks(range(C), [c[:10] for c in classes], rotation=60, fontsize=7,
                          ha="right")
        else:
            ax.set_xticks([])
    fig.suptitle(title, fontsize=11)
    return render(fig, name, caption, dpi=100)


def class_top_dim_purity(features: torch.Tensor, labels: torch.Tensor, num_classes: int,
                         m: int = 5, k: int = TOPK) -> np.ndarray:
    """(C,) mean top-k purity of each class's ``m`` most activated dimensions.

    A class's most activated dimensions are those with the largest mean standardised activation
    (z-score over the test set) on its samples, so dense and sparse codes are ranked alike.
    """
    x = features.float()
    std = x.std(0)
    z = (x - x.mean(0)) / torch.where(std > 0, std, torch.ones_like(std))
    onehot = torch.nn.functional.one_hot(labels, num_classes).float()        # (N, C)
    class_mean = (onehot.T @ z) / onehot.sum(0).clamp_min(1)[:, None]         # (C, D)
    class_mean[:, std <= 0] = -torch.inf
    top = class_mean.topk(min(m, x.shape[1]), dim=1).indices                  # (C, m)
    purity = topk_purity_per_dim(x, labels, k, num_classes)
    return np.nanmean(purity[top].numpy(), axis=1)
