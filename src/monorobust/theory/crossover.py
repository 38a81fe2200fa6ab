"""Where two curves over a noise axis cross: the monosemantic code against a polysemantic one."""

from __future__ import annotations

from typing import NamedTuple


class Crossover(NamedTuple):
    """One sign change of ``mono - other`` between two neighbouring grid points."""

    at: float
    """Noise level of the crossing, linearly interpolated between the two grid points."""
    direction: str
    """``"mono_overtakes"`` (other was better before, mono after) or ``"other_overtakes"``."""
    significant: bool
    """True when the nearest grid points on either side where ``|mono - other|`` exceeds ``z``
    standard errors have opposite signs (always False without standard errors, e.g. over one
    seed: nothing establishes the crossing)."""


def with_clean(levels: tuple[float, ...]) -> tuple[float, ...]:
    """The noise levels a sweep computes: those listed plus the clean reference 0, ascending,
    each once (a "clean" figure and a crossing are then never read off a noisy grid point)."""
    return tuple(sorted({0.0, *map(float, levels)}))


def find_crossovers(xs: list[float], mono: list[float], other: list[float],
                    se_diff: list[float] | None = None, z: float = 2.0) -> list[Crossover]:
    """Sign changes of ``d = mono - other`` along ``xs`` (ascending).

    Exact ties (``d == 0``, e.g. both codes at chance) carry no sign and are skipped over: a
    crossing is reported between the last non-zero difference and the next one of opposite
    sign. ``se_diff`` is the standard error of ``d`` at each point (Monte Carlo error); ``None``
    (unknown, e.g. one seed) makes every crossing not significant.
    """
    d = [m - o for m, o in zip(mono, other)]
    found: list[Crossover] = []
    last: int | None = None
    for i, di in enumerate(d):
        if di == 0.0:
            continue
        if last is not None and (d[last] > 0) != (di > 0):
            frac = d[last] / (d[last] - di)
            at = xs[last] + frac * (xs[i] - xs[last])
            sig = se_diff is not None and _established(d, se_diff, z, last, i)
            found.append(Crossover(round(at, 6), "mono_overtakes" if di > 0 else "other_overtakes",
                                   bool(sig)))
        last = i
    return found


def _established(d: list[float], se: list[float], z: float, left: int, right: int) -> bool:
    """Do the nearest significant differences left of and right of the crossing differ in sign?"""
    sig = [abs(v) > z * s for v, s in zip(d, se)]
    before = next((j for j in range(left, -1, -1) if sig[j]), None)
    after = next((k for k in range(right, len(d)) if sig[k]), None)
    return before is not None and after is not None and (d[before] > 0) != (d[after] > 0)


def describe(found: list[Crossover], axis: str, lo: float, hi: float,
             why: str = "within 2 s.e.") -> str:
    """One human line: the crossings, or an explicit statement that there are none; ``why``
    says why a crossing is not significant."""
    if not found:
        return f"no crossover for {axis} in [{lo:g}, {hi:g}]"
    note = f" (not significant: {why})"
    parts = [f"{c.direction} at {c.at:.3g}{'' if c.significant else note}" for c in found]
    return f"{axis}: " + "; ".join(parts)
