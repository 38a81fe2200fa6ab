"""Figures of ``monorobust toy`` (matplotlib, Agg backend, PNG written atomically)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from monorobust.io import atomic_write_bytes
from monorobust.theory.superposition import ToyModel

COLORS = {"poly": "tab:red", "mono": "tab:blue", "weighted": "tab:orange"}


def _save(fig: Any, path: Path) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path.name


def _figure(nrows: int, ncols: int, size: tuple[float, float]) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(nrows, ncols, figsize=size, squeeze=False)


def plot_superposition(sp: dict[str, Any], models: dict[tuple[int, str], ToyModel],
                       out: Path) -> list[str]:
    """W^T W and feature norms of the first seed's models; accuracy vs noise (mean +- std)."""
    seed = sp["seeds"][0]
    fig, ax = _figure(2, 2, (10, 8))
    for col, code in enumerate(("poly", "mono")):
        W = models[(seed, code)].W
        e = sp["models"][code][0]
        im = ax[0][col].imshow((W.T @ W).numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
        ax[0][col].set_title(f"{code}: W^T W (seed {seed}), {e['represented']} features "
                             f"represented, m={W.shape[0]}", fontsize=9)
        fig.colorbar(im, ax=ax[0][col], fraction=0.046)
        ax[1][col].bar(range(W.shape[1]), e["feature_norms"], color=COLORS[code])
        ax[1][col].axhline(sp["config"]["represented_threshold"], color="k", lw=0.8, ls="--")
        ax[1][col].set_xlabel("feature i (importance decreasing)")
        ax[1][col].set_ylabel("||W_:,i||")
    names = [_save(fig, out / "toy_superposition_weights.png")]

    fig, ax = _figure(1, 2, (11, 4))
    for i, (axis, xname, label) in enumerate((("label_noise", "rates", "label-noise rate"),
                                              ("input_noise", "stds", "input-noise std"))):
        xs = sp[axis][xname]
        for code in ("poly", "mono"):
            c = sp[axis]["accuracy"][code]
            lo = [m - s for m, s in zip(c["mean"], c["std"])]
            hi = [m + s for m, s in zip(c["mean"], c["std"])]
            ax[0][i].plot(xs, c["mean"], "o-", color=COLORS[code], label=code)
            ax[0][i].fill_between(xs, lo, hi, color=COLORS[code], alpha=0.2)
        for cr in sp[axis]["crossovers"]:
            ax[0][i].axvline(cr["at"], color="gray", ls=":", lw=1)
        ax[0][i].set_xlabel(label)
        ax[0][i].set_ylabel(f"test accuracy (mean +- std, {len(sp['seeds'])} seeds)")
        ax[0][i].legend()
    fig.suptitle("Toy model of superposition: linear probe on the hidden code", fontsize=10)
    names.append(_save(fig, out / "toy_superposition_robustness.png"))
    return names


def plot_two_feature(two: dict[str, Any], out: Path) -> list[str]:
    """One figure per noise axis: a panel per measure, curves with 2-standard-error bands."""
    names = []
    for axis, xname, label in (("label_noise", "rates", "label-noise rate"),
                               ("input_noise", "stds", "Gaussian std on each of x1, x2")):
        measures = list(two["measures"])
        fig, ax = _figure(1, len(measures), (3.3 * len(measures), 3.4))
        xs = two[axis][xname]
        for j, m in enumerate(measures):
            a = ax[0][j]
            for code, c in two[axis]["curves"][m].items():
                lo = [v - 2 * s for v, s in zip(c["mean"], c["se"])]
                hi = [v + 2 * s for v, s in zip(c["mean"], c["se"])]
                a.plot(xs, c["mean"], ".-", color=COLORS[code], label=code)
                a.fill_between(xs, lo, hi, color=COLORS[code], alpha=0.25)
            for cr in two[axis]["crossovers"][m]["poly"]:
                a.axvline(cr["at"], color="gray", ls=":", lw=1)
            a.set_title(m, fontsize=9)
            a.set_xlabel(label, fontsize=8)
            a.tick_params(labelsize=7)
        ax[0][0].legend(fontsize=7)
        cfg = two["config"]
        fig.suptitle(f"Two-feature example, S = {cfg['sparsity']}, weighted = "
                     f"{cfg['weights'][0]} x1 - {cfg['weights'][1]} x2 (bands: 2 s.e.)",
                     fontsize=10)
        names.append(_save(fig, out / f"toy_two_feature_{axis}.png"))
    return names
