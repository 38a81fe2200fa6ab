"""The report's "When do the claims hold?": the claims judged under every condition of a study.

A condition is a probe protocol x data regime (x label-noise type for the label-noise claim);
each claim x condition cell is the paired per-seed mono - poly contrast of ``verdicts.contrast``
at the claim's strongest point in the study. Its p-value comes from the same paired t-test, and
Holm's correction (``metrics.holm``) runs across every cell of the matrix before a cell may say
"supports" or "contradicts".
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from monorobust.report import verdicts as V
from monorobust.report.render import Section
from monorobust.report.style import Figure, new_figure, render

ALPHA = 0.05
RULE = (
    "Each cell compares mono and poly under one condition (probe protocol x labelled examples "
    "per class, and for label noise the noise type), at the claim's point in the study: clean "
    "labels (clean parity), the Gaussian input-noise test set (input noise), the strongest "
    "label-noise rate of that type (label noise). The contrast is the paired per-seed mono - "
    "poly difference of the report's verdict rule (95% t interval shown, uncorrected). Each "
    "cell gets one p-value from the same t distribution: robustness claims test mono - poly = 0 "
    "(two-sided); clean parity tests |mono - poly| <= 2 points (two one-sided tests, doubled) "
    "when the difference lies within the margin, and that it lies outside when it does not. "
    "The p-values are corrected across the whole matrix with Holm's step-down method "
    "(family-wise error 5%): a cell says 'supports' or 'contradicts' only when its adjusted "
    "p-value is at most 0.05, otherwise 'cannot tell'.")
NOISE_TITLES = {"symmetric": "symmetric", "pairflip": "pair-flip", "instance": "instance-dependent"}


class Cell(NamedTuple):
    claim: str
    column: str
    protocol: str
    n_per_class: int
    noise_type: str
    comparison: V.Comparison | None
    p: float
    verdict: str = V.CANNOT_TELL
    p_holm: float = math.nan


def _p_value(c: V.Comparison | None, parity: bool) -> float:
    from scipy import stats

    if c is None or math.isnan(c.lo):
        return math.nan
    df = c.df                                   # the interval's own
    se = (c.hi - c.diff) / V._t_crit(df)
    if parity:
        m = V.PARITY_MARGIN
        if abs(c.diff) <= m:       # equivalence: both one-sided tests must reject
            return min(1.0, 2 * max(stats.t.sf((c.diff + m) / se, df),
                                    stats.t.cdf((c.diff - m) / se, df)))
        return min(1.0, 2 * stats.t.sf((abs(c.diff) - m) / se, df))
    return float(2 * stats.t.sf(abs(c.diff) / se, df))


def _decide(c: V.Comparison, parity: bool, significant: bool) -> str:
    if not significant:
        return V.CANNOT_TELL
    if parity:
        return V.SUPPORTS if abs(c.diff) <= V.PARITY_MARGIN else V.CONTRADICTS
    return V.SUPPORTS if c.diff > 0 else V.CONTRADICTS


def study_cells(study: pd.DataFrame, mono: list[str], poly: list[str]) -> list[Cell]:
    """Every claim x condition cell, Holm-corrected across all of them."""
    from monorobust.evaluate.scenarios import CLAIMS
    from monorobust.metrics import holm

    cells = []
    for (protocol, n), g in study.groupby(["protocol", "n_per_class"], sort=False):
        groups = [("clean", "clean parity", g[g.scenario == "clean"], "none")]
        noisy = g[g.scenario.isin(["gaussian_noise", "uniform_noise"])]
        groups.append(("input_noise", "input noise", noisy, "none"))
        for kind, h in g[g.scenario == "label_noise"].groupby("noise_type", sort=False):
            h = h[h.severity == h.severity.max()]
            groups.append(("label_noise", f"label noise: {NOISE_TITLES.get(kind, kind)}", h, kind))
        for claim, column, h, kind in groups:
            if h.empty:
                continue
            pts = list(dict.fromkeys(zip(h.scenario, h.severity.astype(float))))
            c = V.contrast(h, mono, poly, pts, f"{protocol}, n={n or 'all'}, {column}")
            cells.append(Cell(claim, column, protocol, int(n), kind, c,
                              _p_value(c, CLAIMS[claim].parity)))
    corr = holm([c.p for c in cells], ALPHA) if cells else None
    return [c._replace(verdict=(_decide(c.comparison, CLAIMS[c.claim].parity, bool(ok))
                                if c.comparison is not None else V.CANNOT_TELL),
                       p_holm=float(adj))
            for c, adj, ok in zip(cells, corr.adjusted if corr else [], corr.reject if corr else [])]


def _cell_text(c: Cell) -> str:
    cmp = c.comparison
    if cmp is None:
        return V.CANNOT_TELL
    if math.isnan(cmp.lo):
        return f"{c.verdict} {100 * cmp.diff:+.1f}"
    return f"{c.verdict} {100 * cmp.diff:+.1f} [{100 * cmp.lo:+.1f}, {100 * cmp.hi:+.1f}]"


def matrix(cells: list[Cell]) -> pd.DataFrame:
    """Rows: protocol x n/class; columns: claims; cells: verdict, mono - poly and its interval."""
    cols = list(dict.fromkeys(c.column for c in cells))
    rows: dict[tuple[str, int], dict[str, str]] = {}
    for c in cells:
        rows.setdefault((c.protocol, c.n_per_class), {})[c.column] = _cell_text(c)
    return pd.DataFrame([{"protocol": p, "n/class": n or "all", **{k: v.get(k, "-") for k in cols}}
                         for (p, n), v in rows.items()])


def claim_sentences(cells: list[Cell]) -> list[str]:
    from monorobust.evaluate.scenarios import CLAIMS

    out = []
    for key, claim in CLAIMS.items():
        mine = [c for c in cells if c.claim == key]
        if not mine:
            continue
        count = {v: sum(c.verdict == v for c in mine) for v in (V.SUPPORTS, V.CONTRADICTS, V.CANNOT_TELL)}
        line = (f"{claim.title} ({claim.expectation}): supported under {count[V.SUPPORTS]} of "
                f"{len(mine)} conditions, contradicted under {count[V.CONTRADICTS]}, cannot tell "
                f"under {count[V.CANNOT_TELL]}.")
        scored = [c for c in mine if c.comparison is not None]
        if scored:
            best = max(scored, key=lambda c: c.comparison.diff)
            worst = min(scored, key=lambda c: c.comparison.diff)
            line += (f" It helps mono most under {_where(best)} ({100 * best.comparison.diff:+.1f} "
                     f"pts) and least under {_where(worst)} ({100 * worst.comparison.diff:+.1f} pts).")
        out.append(line)
    return out


def _where(c: Cell) -> str:
    return f"{c.protocol}, n/class {c.n_per_class or 'all'}, {c.column}"


def most_telling(cells: list[Cell]) -> str:
    """The noise claim whose verdict depends most on the condition (most split verdicts)."""
    def score(key: str) -> tuple:
        mine = [c for c in cells if c.claim == key]
        sup = sum(c.verdict == V.SUPPORTS for c in mine)
        con = sum(c.verdict == V.CONTRADICTS for c in mine)
        return (min(sup, con), sup + con, len(mine))
    keys = [k for k in ("label_noise", "input_noise") if any(c.claim == k for c in cells)]
    return max(keys, key=score) if keys else ""


def noise_curves(study: pd.DataFrame, claim: str, reps: list[str], labels: dict[str, str],
                 colors: dict[str, str]) -> Figure:
    """One panel per protocol: accuracy against noise (clean at 0), full data, one line per
    representation (x noise type: line style), mean over seeds."""
    n = study.n_per_class.max() if (study.n_per_class == 0).sum() == 0 else 0
    d = study[study.n_per_class == n]
    protocols = list(dict.fromkeys(d.protocol))
    ncols = min(4, len(protocols))
    nrows = -(-len(protocols) // ncols)
    fig, axes = new_figure(nrows, ncols, (3.6 * ncols, 3.0 * nrows))
    styles = ["-", "--", ":", "-."]
    if claim == "label_noise":
        kinds = [k for k in dict.fromkeys(d.noise_type) if k != "none"]
    else:
        kinds = ["input"]
    for i, p in enumerate(protocols):
        ax = axes[i // ncols][i % ncols]
        g = d[d.protocol == p]
        for rep in reps:
            for j, kind in enumerate(kinds):
                if claim == "label_noise":
                    h = g[(g.representation == rep) & ((g.scenario == "clean") | (g.noise_type == kind))]
                else:
                    h = g[(g.representation == rep) & g.scenario.isin(["clean", "gaussian_noise"])]
                m = h.groupby("severity").accuracy.mean().sort_index() * 100
                if m.empty:
                    continue
                ax.plot(m.index, m.values, styles[j % 4], marker="o", ms=3, color=colors[rep],
                        label=f"{labels[rep]}" + (f", {NOISE_TITLES.get(kind, kind)}" if len(kinds) > 1 else ""))
        ax.set_title(p)
        ax.set_xlabel("label-noise rate" if claim == "label_noise" else "input-noise std")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    for k in range(len(protocols), nrows * ncols):
        axes[k // ncols][k % ncols].axis("off")
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncols=min(3, len(names)), frameon=False,
               fontsize=7)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    title = "label noise" if claim == "label_noise" else "input noise"
    caption = (f"Accuracy against {title} per probe protocol ({'all' if n == 0 else n} labelled "
               "examples per class; means over seeds): the claim whose verdict depends most on "
               "the condition.")
    return render(fig, "study-curves", caption)


def study_section(study: pd.DataFrame, ctx: Any) -> Section | None:
    """The section, or None when the run has no study rows."""
    if study is None or study.empty:
        return None
    mono = [r for r, m in ctx.mono.items() if m is True and r in set(study.representation)]
    poly = [r for r, m in ctx.mono.items() if m is False and r in set(study.representation)]
    cells = study_cells(study, mono, poly)
    blocks: list[tuple[str, Any]] = [
        ("text", f"`monorobust study` retrained the probes of this run's features under "
                 f"{study.protocol.nunique()} probe protocols x {study.n_per_class.nunique()} "
                 f"data regimes x {max(1, study.noise_type.nunique() - 1)} label-noise types x "
                 f"{study.seed.nunique()} seeds ({len(study)} rows). Mono: {', '.join(mono)}; "
                 f"poly: {', '.join(poly)}. " + RULE),
        ("table", matrix(cells)),
        ("list", claim_sentences(cells)),
    ]
    if (claim := most_telling(cells)):
        reps = [r for r in ctx.reps if r in set(study.representation)]
        blocks.append(("figure", noise_curves(study, claim, reps, ctx.labels, ctx.colors)))
    return Section("study", "When do the claims hold?", blocks)


def cross_seed_stability(features: dict, reps: list[str]) -> dict[str, float]:
    """rep -> mean matched |correlation| between the saved clean test features of its first
    two seeds (``metrics.cross_seed_stability``); reps with fewer than two seeds left out."""
    from monorobust.metrics import cross_seed_stability as css

    out = {}
    for rep in reps:
        seeds = sorted(s for r, s in features if r == rep)
        if len(seeds) >= 2:
            a, b = features[(rep, seeds[0])], features[(rep, seeds[1])]
            if len(a.features) == len(b.features):
                out[rep] = float(np.round(css(a.features.float(), b.features.float()).mean_matched_correlation, 3))
    return out
