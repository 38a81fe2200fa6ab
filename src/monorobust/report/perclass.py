"""The paper's Section 4.1 per class: under the strongest label noise, is a class's accuracy
related to how class-pure its most activated feature dimensions are?

For every representation and seed with saved features: per class, the mean top-k purity of the
class's most activated dimensions (``gallery.class_top_dim_purity``), its clean accuracy and
its accuracy after training on the most label-noisy data (result rows' ``per_class_accuracy``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from monorobust.evaluate.scenarios import CLEAN
from monorobust.report.figures import primary_severity
from monorobust.report.gallery import Features, class_top_dim_purity
from monorobust.report.style import Figure, message_figure, new_figure, render


def _per_class(results: pd.DataFrame, rep: str, seed: int, scen: str, sev: float) -> list | None:
    m = ((results.representation == rep) & (results.seed == seed) & (results.scenario == scen)
         & np.isclose(results.severity, sev))
    rows = results.loc[m, "per_class_accuracy"] if "per_class_accuracy" in results else []
    return list(rows.iloc[0]) if len(rows) and isinstance(rows.iloc[0], list) else None


def per_class_table(results: pd.DataFrame, features: Callable[[str, int], Features | None],
                    keys: list[tuple[str, int]], num_classes: int, m: int = 5) -> pd.DataFrame:
    """Rows (representation, seed, class, purity, clean_acc, noisy_acc, drop) for every
    (representation, seed) in ``keys`` with features and a strongest-label-noise row."""
    sev = primary_severity(results, "label_noise")
    if sev is None:
        return pd.DataFrame()
    out = []
    for rep, seed in keys:
        noisy = _per_class(results, rep, seed, "label_noise", sev)
        feats = features(rep, seed)
        if noisy is None or feats is None or len(noisy) != num_classes:
            continue
        clean = _per_class(results, rep, seed, CLEAN, 0.0)
        clean = clean if clean is not None and len(clean) == num_classes else [np.nan] * num_classes
        purity = class_top_dim_purity(feats.features, feats.labels, num_classes, m)
        for c in range(num_classes):
            out.append({"representation": rep, "seed": seed, "class": c,
                        "purity": float(purity[c]), "clean_acc": clean[c],
                        "noisy_acc": noisy[c], "drop": clean[c] - noisy[c]})
    df = pd.DataFrame(out)
    df.attrs["severity"] = sev
    return df


def correlations(table: pd.DataFrame) -> pd.DataFrame:
    """Spearman rho (and its p-value) between class purity and noisy accuracy / drop, per
    representation, on class means over seeds."""
    from scipy.stats import spearmanr

    rows = []
    means = table.groupby(["representation", "class"], sort=False).mean(numeric_only=True)
    for rep, g in means.groupby(level=0, sort=False):
        row = {"representation": rep, "classes": len(g)}
        for col in ("noisy_acc", "drop"):
            ok = g[["purity", col]].dropna()
            if len(ok) > 2 and ok.purity.nunique() > 1 and ok[col].nunique() > 1:
                r = spearmanr(ok.purity, ok[col])
                row[f"rho_{col}"], row[f"p_{col}"] = float(r.statistic), float(r.pvalue)
            else:
                row[f"rho_{col}"], row[f"p_{col}"] = np.nan, np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def per_class_figure(table: pd.DataFrame, reps: list[str], labels: dict[str, str],
                     colors: dict[str, str], classes: list[str]) -> Figure:
    """Class purity against accuracy under the strongest label noise, and against the drop
    from clean accuracy; one point per representation and class (mean over seeds)."""
    caption = ("Per class (paper Section 4.1): mean top-k purity of the class's 5 most "
               "activated dimensions against the class's test accuracy after training on the "
               "most label-noisy data (left) and against its drop from clean accuracy (right); "
               "one point per representation and class, averaged over seeds.")
    if table.empty:
        return message_figure("per_class", caption,
                              "needs saved features and label-noise results with per-class accuracy")
    sev = table.attrs.get("severity", float("nan"))
    means = table.groupby(["representation", "class"], sort=False).mean(numeric_only=True)
    means = means.reset_index()
    fig, axes = new_figure(1, 2, (10, 4))
    for j, (col, ylab) in enumerate((("noisy_acc", f"accuracy (%), label noise {sev:.0%}"),
                                     ("drop", "clean - noisy accuracy (pts)"))):
        ax = axes[0][j]
        for rep in reps:
            p = means[means.representation == rep]
            if p.empty:
                continue
            ax.scatter(p.purity, p[col] * 100, color=colors[rep], label=labels[rep], s=30,
                       edgecolor="black", lw=0.4)
            if len(classes) <= 20:
                for _, r in p.iterrows():
                    ax.annotate(classes[int(r["class"])][:8], (r.purity, r[col] * 100),
                                fontsize=6, xytext=(2, 2), textcoords="offset points")
        ax.set_xlabel("purity of the class's top dimensions")
        ax.set_ylabel(ylab)
        ax.grid(alpha=0.3)
    axes[0][0].legend(frameon=False)
    fig.tight_layout()
    return render(fig, "per_class", caption)
