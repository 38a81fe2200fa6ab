"""Colours, names and figure helpers shared by every chart of the report.

The palette is Okabe & Ito's (colour-blind safe). Each representation keeps its colour in every
figure (and across runs for the registered ones); polysemantic representations are also drawn
dashed / hatched so that the grouping survives a grey-scale print.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from monorobust.evaluate import REPRESENTATIONS
from monorobust.evaluate.representations import OKABE_ITO
from monorobust.evaluate.scenarios import SCENARIOS


def rep_colors(names: list[str]) -> dict[str, str]:
    """A colour per representation: its registry entry's where it has one, the rest in palette
    order (skipping the colours registered representations use)."""
    fixed = {n: REPRESENTATIONS.get(n).colour for n in REPRESENTATIONS if REPRESENTATIONS.get(n).colour}
    free = [c for c in OKABE_ITO if c not in fixed.values()]
    out, i = {}, 0
    for n in names:
        if n in fixed:
            out[n] = fixed[n]
        else:
            out[n] = free[i % len(free)]
            i += 1
    return out


def scenario_title(name: str) -> str:
    """The registered scenario's title; a readable form of an unknown name."""
    return SCENARIOS.get(name).title if name in SCENARIOS else name.replace("_", " ")


def severity_axis(name: str) -> str:
    return SCENARIOS.get(name).axis if name in SCENARIOS else "severity"


class Figure(NamedTuple):
    """A rendered figure: file stem, caption, PNG and SVG bytes."""

    name: str
    caption: str
    png: bytes
    svg: bytes


def new_figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (7, 4),
               **kw: Any) -> tuple[Any, Any]:
    """``plt.subplots`` on the Agg backend, with readable defaults; axes always a 2-D array."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10,
                         "legend.fontsize": 9, "axes.spines.top": False,
                         "axes.spines.right": False, "svg.fonttype": "none"})
    return plt.subplots(nrows, ncols, figsize=size, squeeze=False, **kw)


def render(fig: Any, name: str, caption: str, dpi: int = 110) -> Figure:
    """Render ``fig`` to PNG and SVG bytes and close it."""
    import matplotlib.pyplot as plt

    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=dpi, bbox_inches="tight")
    fig.savefig(svg, format="svg", bbox_inches="tight")
    plt.close(fig)
    return Figure(name, caption, png.getvalue(), svg.getvalue())


def message_figure(name: str, caption: str, text: str) -> Figure:
    """A small placeholder figure that says why the real one cannot be drawn."""
    fig, ax = new_figure(1, 1, (6, 1.2))
    ax[0][0].axis("off")
    ax[0][0].text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return render(fig, name, caption)


_GLYPH = re.compile(r"Glyph (\d+) .*missing from (?:current )?font")


@contextmanager
def one_missing_glyphs_warning() -> Iterator[None]:
    """Matplotlib warns once per character its font lacks, per place that draws text, so class
    names in a script the font does not cover (e.g. CJK) gave a run of warnings; within this,
    they become one warning naming the characters, drawn as boxes. Other warnings pass."""
    missing: list[str] = []
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def keep(message, category, filename, lineno, file=None, line=None):
            found = _GLYPH.search(str(message))
            if found is None:
                shown(message, category, filename, lineno, file, line)
            elif chr(int(found.group(1))) not in missing:
                missing.append(chr(int(found.group(1))))

        warnings.showwarning = keep
        yield
    if missing:
        warnings.warn(f"the report's figures draw {len(missing)} character(s) that matplotlib's "
                      f"font lacks as boxes ({' '.join(missing[:20])}"
                      f"{' ...' if len(missing) > 20 else ''}); the HTML and Markdown text "
                      "show them as they are", stacklevel=3)
