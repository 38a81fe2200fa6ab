"""Accuracy figures: Figure-1b-style bars, accuracy against severity, monosemanticity vs robustness.

Pure functions: DataFrames in (results rows, summary, metrics rows), ``style.Figure`` out.
Error bars and bands are +-1 standard deviation over seeds (none with one seed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from monorobust.evaluate.scenarios import CLEAN, SCENARIOS, claim_scenarios
from monorobust.report.style import (
    Figure, message_figure, new_figure, render, scenario_title, severity_axis,
)


def _fact(name: str, fact: str) -> bool:
    """A registered scenario's boolean fact (False for a scenario this installation lacks)."""
    return name in SCENARIOS and getattr(SCENARIOS.get(name), fact)


def primary_severity(results: pd.DataFrame, scenario: str) -> float | None:
    """The severity of ``scenario`` its claim is judged at (the strongest label or input noise,
    the fewest examples); None when ``results`` has none."""
    sev = results.loc[results.scenario == scenario, "severity"]
    return None if sev.empty else float(SCENARIOS.get(scenario).primary(list(sev)))


def first_primary(results: pd.DataFrame, claim: str) -> tuple[str, float] | None:
    """The first scenario of ``claim`` in ``results`` and its primary severity."""
    for scen in claim_scenarios(claim):
        if (sev := primary_severity(results, scen)) is not None:
            return scen, sev
    return None


def headline_conditions(results: pd.DataFrame) -> list[tuple[str, str, float]]:
    """(title, scenario, severity) of Figure 1b: clean, the strongest label noise and the
    strongest input noise (Gaussian, else uniform), each only when present."""
    out = [("clean", CLEAN, 0.0)] if (results.scenario == CLEAN).any() else []
    for claim in ("label_noise", "input_noise"):
        if (point := first_primary(results, claim)) is not None:
            out.append((f"{scenario_title(point[0])} {point[1]:g}", *point))
    return out


def _per_seed(results: pd.DataFrame, rep: str, scen: str, sev: float) -> np.ndarray:
    m = (results.representation == rep) & (results.scenario == scen) & np.isclose(results.severity, sev)
    return results.loc[m].groupby("seed")["accuracy"].mean().to_numpy() * 100


def headline_bars(results: pd.DataFrame, reps: list[str], labels: dict[str, str],
                  colors: dict[str, str], mono: dict[str, bool | None]) -> Figure:
    """Grouped bars like the paper's Figure 1b: mean +- std over seeds, seeds as dots."""
    conds = headline_conditions(results)
    caption = ("Linear-probe accuracy on the clean test split, after training on the most "
               "label-noisy data, and on the most noisy test inputs; bars: mean over seeds, "
               "whiskers: +-1 std, dots: single seeds.")
    if not conds:
        return message_figure("headline", caption, "no clean, label-noise or input-noise results")
    fig, ax = new_figure(1, 1, (max(6.0, 2.2 * len(conds) + 1.5), 4.2))
    ax = ax[0][0]
    width = 0.8 / max(1, len(reps))
    for i, rep in enumerate(reps):
        for j, (_, scen, sev) in enumerate(conds):
            vals = _per_seed(results, rep, scen, sev)
            if len(vals) == 0:
                continue
            x = j - 0.4 + width * (i + 0.5)
            err = vals.std(ddof=1) if len(vals) > 1 else 0.0
            ax.bar(x, vals.mean(), width * 0.92, yerr=err, capsize=3, color=colors[rep],
                   hatch="//" if mono.get(rep) is False else None, edgecolor="white",
                   label=labels[rep] if j == 0 else None)
            ax.scatter(np.full(len(vals), x), vals, s=9, color="black", zorder=3)
            ax.text(x, vals.mean() + err + 1, f"{vals.mean():.1f}", ha="center", fontsize=8)
    ax.set_xticks(range(len(conds)), [c[0] for c in conds])
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 105)
    ax.legend(loc="upper right", ncols=min(3, len(reps)), frameon=False)
    ax.set_title("Clean vs. noisy accuracy per representation (cf. paper Figure 1b)")
    return render(fig, "headline", caption)


def _curve(summary: pd.DataFrame, rep: str, scen: str, with_clean: bool) -> pd.DataFrame:
    cur = summary[(summary.representation == rep) & (summary.scenario == scen)]
    if with_clean:
        clean = summary[(summary.representation == rep) & (summary.scenario == CLEAN)]
        cur = pd.concat([clean.assign(severity=0.0), cur])
    return cur.sort_values("severity")


def severity_curves(summary: pd.DataFrame, reps: list[str], labels: dict[str, str],
                    colors: dict[str, str], mono: dict[str, bool | None]) -> Figure:
    """One panel per non-clean scenario: mean accuracy against severity, +-1 std band."""
    scens = [s for s in dict.fromkeys(summary.scenario) if s != CLEAN]
    caption = ("Accuracy against severity for every scenario in the run: lines are means over "
               "seeds, bands +-1 std. Severity 0 is the clean setting; few-shot draws the "
               "full-data (clean) accuracy as a dotted line; single-severity shifts (sketch) "
               "are shown next to clean.")
    if not scens:
        return message_figure("severity", caption, "only clean results: no severity to sweep")
    ncols = min(3, len(scens))
    nrows = -(-len(scens) // ncols)
    fig, axes = new_figure(nrows, ncols, (4.3 * ncols, 3.3 * nrows))
    for k, scen in enumerate(scens):
        ax = axes[k // ncols][k % ncols]
        sevs = sorted(summary.loc[summary.scenario == scen, "severity"].unique())
        zero_is_clean, log_axis = _fact(scen, "zero_is_clean"), _fact(scen, "log_axis")
        categorical = len(sevs) == 1 and not zero_is_clean and not log_axis
        for rep in reps:
            ls = "--" if mono.get(rep) is False else "-"
            if categorical:
                cur = _curve(summary, rep, scen, True)
                x = np.arange(len(cur))
            else:
                cur = _curve(summary, rep, scen, zero_is_clean)
                x = cur.severity.to_numpy()
            if cur.empty:
                continue
            m, s = cur["mean"].to_numpy() * 100, cur["std"].fillna(0).to_numpy() * 100
            ax.plot(x, m, ls, marker="o", ms=4, color=colors[rep], label=labels[rep])
            ax.fill_between(x, m - s, m + s, color=colors[rep], alpha=0.18, lw=0)
            if log_axis:
                clean = summary[(summary.representation == rep) & (summary.scenario == CLEAN)]
                if not clean.empty:
                    ax.axhline(clean["mean"].iloc[0] * 100, color=colors[rep], ls=":", lw=1)
        if categorical:
            ax.set_xticks([0, 1], [CLEAN, scen])
            ax.set_xlim(-0.5, 1.5)
        else:
            ax.set_xlabel(severity_axis(scen))
        if log_axis:
            from matplotlib.ticker import NullFormatter

            ax.set_xscale("log")
            ax.set_xticks(sevs, [f"{v:g}" for v in sevs])
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(scenario_title(scen))
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    for k in range(len(scens), nrows * ncols):
        axes[k // ncols][k % ncols].axis("off")
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncols=len(names), frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return render(fig, "severity", caption)


def robustness_points(results: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """Per representation and seed: the metrics joined with accuracy under the strongest label
    noise (``label_noise_acc``) and the strongest Gaussian (else uniform) input noise
    (``input_noise_acc``); NaN where absent."""
    out = metrics.copy()
    for col, claim in (("label_noise_acc", "label_noise"), ("input_noise_acc", "input_noise")):
        out[col] = np.nan
        if (point := first_primary(results, claim)) is None:
            continue
        scen, sev = point
        sub = results[(results.scenario == scen) & np.isclose(results.severity, sev)]
        acc = sub.groupby(["representation", "seed"])["accuracy"].mean()
        out[col] = [np.nan if pd.isna(s) else acc.get((r, int(s)), np.nan)
                    for r, s in zip(out.representation, out.seed)]
        out.attrs[col] = f"{scenario_title(scen)} {sev:g}"
    return out


def mono_vs_robust(points: pd.DataFrame, reps: list[str], labels: dict[str, str],
                   colors: dict[str, str]) -> Figure:
    """Monosemanticity (top-k purity, semantic consistency) against robust accuracy, one point
    per representation and seed; Spearman's rho over all points in each panel's title."""
    from scipy.stats import spearmanr

    caption = ("Monosemanticity of the clean test features against accuracy under the "
               "strongest label noise and input noise; one point per representation and seed.")
    xs = [c for c in ("topk_purity", "semantic_consistency") if c in points]
    ys = [c for c in ("label_noise_acc", "input_noise_acc") if points[c].notna().any()]
    if points.empty or not xs or not ys:
        return message_figure("mono_vs_robust", caption,
                              "needs metrics.jsonl and label- or input-noise results")
    fig, axes = new_figure(len(xs), len(ys), (4.5 * len(ys), 3.5 * len(xs)))
    for i, xc in enumerate(xs):
        for j, yc in enumerate(ys):
            ax = axes[i][j]
            for rep in reps:
                p = points[points.representation == rep]
                ax.scatter(p[xc], p[yc] * 100, color=colors[rep], label=labels[rep], s=36,
                           edgecolor="black", lw=0.4)
            ok = points[[xc, yc]].dropna()
            # A constant column has no rank correlation (scipy warns and returns NaN).
            varies = len(ok) > 2 and ok[xc].nunique() > 1 and ok[yc].nunique() > 1
            rho = spearmanr(ok[xc], ok[yc]).statistic if varies else float("nan")
            ax.set_title(f"Spearman ρ = {rho:.2f} (n = {len(ok)})", fontsize=9)
            ax.set_xlabel(xc.replace("_", " "))
            ax.set_ylabel(f"accuracy (%), {points.attrs.get(yc, yc)}")
            ax.grid(alpha=0.3)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncols=len(names), frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return render(fig, "mono_vs_robust", caption)
