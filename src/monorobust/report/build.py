"""``write_report(run_dir)``: read a run folder, build every section, write the report files.

Writes (atomically) ``RUN_DIR/report.html`` (self-contained), ``RUN_DIR/report.md`` and every
figure as ``RUN_DIR/figures/NAME.png`` and ``NAME.svg`` (PNG and SVG files there that this report
did not write, left from an earlier one, are removed: the folder belongs to the report).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from monorobust.io import atomic_write_bytes, atomic_write_text
from monorobust.report import sections as sec
from monorobust.report import verdicts
from monorobust.report.load import RunData, load_run
from monorobust.report.render import Section, to_html_page, to_markdown_page
from monorobust.report.style import one_missing_glyphs_warning
from monorobust.report.training import training_section
from monorobust.rundir import RunDir


class ReportPaths(NamedTuple):
    """What ``write_report`` wrote."""

    html: Path
    markdown: Path
    figures: list[Path]
    """PNG and SVG files under ``RUN_DIR/figures``."""
    missing: list[str]
    """What the run lacks (also listed in the report)."""


def build_sections(data: RunData) -> tuple[list[Section], list[str]]:
    """Every section of the report, and the run's list of missing pieces."""
    import matplotlib

    matplotlib.use("Agg")
    ctx = sec.make_context(data)
    vs = verdicts.claim_verdicts(data.results, ctx.mono)
    vdf = verdicts.verdicts_table(vs)
    sections = [
        sec.overview(ctx, vdf, verdicts.few_seeds_note(vs)),
        sec.verdict_section(vs, vdf),
        *study_sections(data, ctx),
        sec.headline(ctx),
        sec.severity(ctx),
        sec.monosemanticity(ctx),
        sec.feature_gallery(ctx),
        sec.per_class(ctx),
        sec.finetune(ctx),
        sec.toy(ctx),
        training_section(ctx),
        sec.reproducibility(ctx),
    ]
    return sections, data.missing + ctx.notes


def study_sections(data: RunData, ctx) -> list[Section]:
    """"When do the claims hold?" when the run folder has ``monorobust study`` rows."""
    from monorobust.report.study import study_section

    rows = RunDir(data.run_dir).load_study()
    section = study_section(rows, ctx) if not rows.empty else None
    return [section] if section is not None else []


def _title(data: RunData) -> tuple[str, str]:
    cfg = data.config
    name = data.run_dir.resolve().name
    title = f"monorobust report: {name}"
    sub = ("Zhang et al., 'Beyond Interpretability: The Gains of Feature Monosemanticity on "
           "Model Robustness' (ICLR 2025), reproduced on "
           + (f"{cfg.data.name} with a {cfg.pretrain.encoder} encoder" if cfg is not None
              else "an unknown config")
           + f"; {len(data.seeds)} seed(s); {len(data.results)} result rows.")
    return title, sub


def write_report(run_dir: str | Path) -> ReportPaths:
    """Build and write the report of ``run_dir``; ``ConfigError`` when it holds no results."""
    data = load_run(run_dir)
    with one_missing_glyphs_warning():
        sections, missing = build_sections(data)
    out = RunDir(run_dir)
    written = []
    for s in sections:
        for kind, value in s.blocks:
            if kind != "figure":
                continue
            for ext, payload in (("png", value.png), ("svg", value.svg)):
                path = out.figures / f"{value.name}.{ext}"
                atomic_write_bytes(path, payload)
                written.append(path)
    for stale in out.figures.glob("*"):    # figures of an earlier report, e.g. a
        if stale.suffix in (".png", ".svg") and stale not in written:   # dropped representation
            stale.unlink()
    title, sub = _title(data)
    html, markdown = out / RunDir.REPORT_HTML, out / RunDir.REPORT_MD
    atomic_write_text(html, to_html_page(title, sub, sections))
    atomic_write_text(markdown, to_markdown_page(title, sub, sections))
    return ReportPaths(html, markdown, written, missing)
