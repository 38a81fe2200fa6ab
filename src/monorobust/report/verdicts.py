"""A verdict per claim of the paper, computed from a run's accuracies and their spread.

The rule is ``RULE`` (printed in the report). Nothing here is tuned: the rule is fixed before
the numbers are seen, and a run with one seed gets "cannot tell" everywhere.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import pandas as pd

from monorobust.evaluate.scenarios import CLAIMS, SCENARIOS

SUPPORTS, CONTRADICTS, CANNOT_TELL = "supports", "contradicts", "cannot tell"
PARITY_MARGIN = 0.02
LEVEL = 0.95
RULE = (
    "The contrast of a claim is mono - poly: per seed, the mean accuracy of the monosemantic "
    "representations minus that of the polysemantic ones, averaged over the claim's scenarios at "
    "their primary severity (strongest label noise; strongest Gaussian and uniform noise; "
    "smallest k; strongest corruption and the sketch shift). Seeds pair the two sides (same "
    "data, noise draws and subsets), so the test is a paired t-test over the seeds that have "
    "every cell; with fewer than two such seeds it falls back to Welch's t-test on each side's "
    "per-seed means. Robustness claims expect mono > poly: 'supports' when the two-sided 95% "
    "confidence interval of the contrast lies above 0, 'contradicts' when it lies below 0, "
    "otherwise 'cannot tell'. Clean parity expects |mono - poly| <= 2 accuracy points (the "
    "paper's clean gaps are 0.1-1.7 points): 'supports' when the whole interval lies within "
    "+-2 points, 'contradicts' when it lies entirely outside, otherwise 'cannot tell'. One "
    "seed, or differences with zero spread, give 'cannot tell'. Each claim is tested on its "
    "own at 95%, without a correction for testing five claims."
)

class Comparison(NamedTuple):
    """mono - poly accuracy (0-1) with its confidence interval."""

    what: str
    diff: float
    lo: float
    hi: float
    n: int
    test: str
    df: float = math.nan
    """Degrees of freedom of the t interval (paired: seeds - 1; Welch's otherwise)."""

    def text(self) -> str:
        if math.isnan(self.lo):
            return f"{self.what}: {100 * self.diff:+.1f} pts ({self.test})"
        return (f"{self.what}: {100 * self.diff:+.1f} pts, {LEVEL:.0%} CI "
                f"[{100 * self.lo:+.1f}, {100 * self.hi:+.1f}] ({self.test})")


class Verdict(NamedTuple):
    """One claim: its verdict, the primary comparison and per-representation details."""

    key: str
    claim: str
    expectation: str
    verdict: str
    reason: str
    primary: Comparison | None
    details: list[Comparison]


def _t_crit(df: float) -> float:
    from scipy import stats

    return float(stats.t.ppf(0.5 + LEVEL / 2, df))


def contrast(results: pd.DataFrame, mono: list[str], poly: list[str],
             points: list[tuple[str, float]], what: str = "") -> Comparison | None:
    """mono - poly over ``points`` (scenario, severity); None when there is no spread to use."""
    if not mono or not poly or not points:
        return None
    a, b = seed_sides(results, mono, poly, points)
    if a.empty or b.empty:
        return None
    common = sorted(set(a.index) & set(b.index))
    if len(common) >= 2:
        d = a[common] - b[common]
        se = float(d.std(ddof=1)) / math.sqrt(len(d))
        if se <= 1e-12:         # identical differences: no spread to size an interval with
            return Comparison(what, float(d.mean()), math.nan, math.nan, len(d),
                              f"paired over {len(d)} seeds, zero spread")
        half = _t_crit(len(d) - 1) * se
        return Comparison(what, float(d.mean()), float(d.mean()) - half, float(d.mean()) + half,
                          len(d), f"paired over {len(d)} seeds", len(d) - 1)
    if len(a) >= 2 and len(b) >= 2:
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        se = math.sqrt(va + vb)
        diff = float(a.mean() - b.mean())
        if se <= 1e-12:
            return Comparison(what, diff, math.nan, math.nan, min(len(a), len(b)),
                              f"Welch, {len(a)} vs {len(b)} seeds, zero spread")
        df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
        half = _t_crit(df) * se
        return Comparison(what, diff, diff - half, diff + half, min(len(a), len(b)),
                          f"Welch, {len(a)} vs {len(b)} seeds", df)
    if common:                  # one seed on both sides: that seed's paired difference
        diff = float(a[common[0]] - b[common[0]])
        return Comparison(what, diff, math.nan, math.nan, 1, f"one seed ({common[0]}): no spread")
    diff = float(a.mean() - b.mean())
    return Comparison(what, diff, math.nan, math.nan, 1,
                      f"seeds {list(a.index)} vs {list(b.index)}, unpaired: no spread")


def seed_sides(results: pd.DataFrame, mono: list[str], poly: list[str],
               points: list[tuple[str, float]]) -> tuple[pd.Series, pd.Series]:
    """Per seed, the mean accuracy of the mono and of the poly representations over ``points``
    (Series indexed by seed; a seed missing any of a side's cells is left out of that side)."""
    wanted = {(s, float(v)) for s, v in points}
    keep = results[[(s, float(v)) in wanted for s, v in zip(results.scenario, results.severity)]]
    if keep.empty:
        return pd.Series(dtype=float), pd.Series(dtype=float)
    cell = keep.groupby(["representation", "seed", "scenario", "severity"])["accuracy"].mean()

    def side(reps: list[str]) -> pd.Series:
        rows = cell[cell.index.get_level_values(0).isin(reps)].reset_index()
        per_seed = rows.groupby("seed")
        full = per_seed.size() == len(reps) * len(points)
        return per_seed["accuracy"].mean()[full]

    return side(mono), side(poly)


def decide(c: Comparison | None, parity: bool = False, margin: float = PARITY_MARGIN) -> str:
    """The verdict of one comparison under the module's rule."""
    if c is None or math.isnan(c.lo):
        return CANNOT_TELL
    if parity:
        if -margin <= c.lo and c.hi <= margin:
            return SUPPORTS
        return CONTRADICTS if c.lo > margin or c.hi < -margin else CANNOT_TELL
    if c.lo > 0:
        return SUPPORTS
    return CONTRADICTS if c.hi < 0 else CANNOT_TELL


def primary_points(results: pd.DataFrame, reps: list[str]) -> dict[str, list[tuple[str, float]]]:
    """The (scenario, severity) points each claim is judged on, among those ``reps`` all have:
    every registered scenario serving the claim, at its primary severity."""
    sub = results[results.representation.isin(reps)]
    have = sub.groupby(["scenario", "severity"])["representation"].nunique()
    common = [(s, float(v)) for (s, v), n in have.items() if n == len(reps)]
    pts: dict[str, list[tuple[str, float]]] = {k: [] for k in CLAIMS}
    for name in SCENARIOS:
        scenario = SCENARIOS.get(name)
        severities = sorted(v for s, v in common if s == name)
        if scenario.claim is not None and severities:
            pts[scenario.claim].append((name, scenario.primary(severities)))
    return pts


def _fmt_points(points: list[tuple[str, float]]) -> str:
    return ", ".join(f"{s}@{v:g}" for s, v in points)


def claim_verdicts(results: pd.DataFrame, mono_flags: dict[str, bool | None],
                   margin: float = PARITY_MARGIN) -> list[Verdict]:
    """One ``Verdict`` per claim in ``CLAIMS`` from result rows (representation, scenario,
    severity, seed, accuracy) and each representation's monosemantic flag (None: left out)."""
    mono = [r for r, m in mono_flags.items() if m is True]
    poly = [r for r, m in mono_flags.items() if m is False]
    pts = primary_points(results, mono + poly) if mono and poly else {k: [] for k in CLAIMS}
    out = []
    for key, (claim, expectation, parity) in CLAIMS.items():
        points = pts[key]
        if not mono or not poly:
            reason = "needs at least one monosemantic and one polysemantic representation"
            out.append(Verdict(key, claim, expectation, CANNOT_TELL, reason, None, []))
            continue
        if not points:
            reason = "no scenario of this claim in the run"
            out.append(Verdict(key, claim, expectation, CANNOT_TELL, reason, None, []))
            continue
        label = f"{'/'.join(mono)} - {'/'.join(poly)} at {_fmt_points(points)}"
        primary = contrast(results, mono, poly, points, label)
        details = []
        for m in mono:
            for p in points:
                c = contrast(results, [m], poly, [p], f"{m} - {'/'.join(poly)} at {_fmt_points([p])}")
                if c is not None:
                    details.append(c)
        verdict = decide(primary, parity, margin)
        if primary is None:
            reason = "no seed has every cell of the comparison"
        else:
            rule = (f"interval within +-{100 * margin:g} pts" if parity else "interval excludes 0")
            reason = f"{primary.text()}; rule: {rule}"
        out.append(Verdict(key, claim, expectation, verdict, reason, primary, details))
    return out


FEW_SEEDS = 5
"""Below this many seeds the report says that its verdicts are provisional."""


def few_seeds_note(verdicts: list[Verdict]) -> str | None:
    """A warning when the verdicts' intervals rest on fewer than ``FEW_SEEDS`` seeds, else None.

    With few seeds the paired interval is wide (t = 4.30 standard errors for 3 seeds), and a
    verdict whose interval ends near its boundary flips on a rerun that changes nothing but
    float rounding: measured on the quick preset (docs/scale.md).
    """
    seeds = [v.primary.n for v in verdicts if v.primary is not None and not math.isnan(v.primary.lo)]
    if not seeds or max(seeds) >= FEW_SEEDS:
        return None
    n = max(seeds)
    return (f"These verdicts rest on {n} seeds: a paired {LEVEL:.0%} interval over {n} seeds "
            f"spans +-{_t_crit(n - 1):.2f} standard errors, so a verdict whose interval ends "
            "near its boundary can change on a rerun that differs only in float rounding (on "
            "the quick preset, two fp32 runs of the same 3 seeds that differed only so agreed "
            "on 3 of 5 verdicts; docs/scale.md). Treat those as provisional, and add seeds to "
            "this folder for firmer ones (`monorobust run --out FOLDER --seeds 3 4 5` runs only "
            "the new seeds).")


def verdicts_table(verdicts: list[Verdict]) -> pd.DataFrame:
    """One row per claim: claim, expectation, verdict, mono - poly (pts), CI, test."""
    rows = []
    for v in verdicts:
        c = v.primary
        rows.append({
            "claim": v.claim, "paper says": v.expectation, "verdict": v.verdict,
            "mono - poly (pts)": "-" if c is None else f"{100 * c.diff:+.1f}",
            f"{LEVEL:.0%} CI (pts)": ("-" if c is None or math.isnan(c.lo)
                                      else f"[{100 * c.lo:+.1f}, {100 * c.hi:+.1f}]"),
            "compared at": "-" if c is None else c.what.split(" at ", 1)[-1],
            "test": "-" if c is None else c.test,
        })
    return pd.DataFrame(rows)
