"""The report's sections, each built from a ``RunData`` (and saying what it cannot show)."""

from __future__ import annotations

from typing import Any, NamedTuple

import pandas as pd
import torch

from monorobust.report import figures, gallery, perclass, tables, verdicts
from monorobust.report.load import RunData
from monorobust.report.render import Section
from monorobust.report.style import rep_colors


class Context(NamedTuple):
    """What the section builders share: names, colours, flags, classes, images, features."""

    data: RunData
    reps: list[str]
    labels: dict[str, str]
    colors: dict[str, str]
    mono: dict[str, bool | None]
    classes: list[str]
    images: torch.Tensor | None
    """Clean test images (N, C, H, W) uint8 in the saved features' order, or None."""
    features: dict[tuple[str, int], gallery.Features]
    notes: list[str]
    """Extra lines for the 'what is missing' list found while building."""


def _test_images(data: RunData, notes: list[str]) -> tuple[list[str] | None, torch.Tensor | None]:
    if data.config is None:
        return None, None
    try:
        from monorobust.data.prepare import prepare_splits

        splits = prepare_splits(data.config.data)
        return list(splits.classes), splits.test.images
    except Exception as err:    # images are optional: the report still renders without them
        notes.append(f"test images could not be loaded ({type(err).__name__}: {err}); the "
                     "gallery shows label histograms only")
        return None, None


def make_context(data: RunData) -> Context:
    """Names, colours and the loaded features / images of a run."""
    notes: list[str] = []
    reps = [r.name for r in data.reps]
    classes, images = _test_images(data, notes)
    feats = {key: gallery.load_features(path) for key, path in data.feature_files.items()}
    if classes is None:
        n = max([int(f.labels.max()) + 1 for f in feats.values()] +
                [len(x) for x in data.results.get("per_class_accuracy", pd.Series([], dtype=object))
                 if isinstance(x, list)] + [1])
        classes = [str(c) for c in range(n)]
    if images is not None:
        mismatched = [k for k, f in feats.items()
                      if len(f.labels) != len(images)]
        if mismatched:
            notes.append("saved features do not match the test split of config.yaml; the gallery "
                         "shows label histograms only")
            images = None
    return Context(data, reps, {r.name: r.label for r in data.reps}, rep_colors(reps),
                   {r.name: r.monosemantic for r in data.reps}, classes, images, feats, notes)


def _rep_line(ctx: Context) -> str:
    kinds = {True: "monosemantic", False: "polysemantic", None: "not registered"}
    return "; ".join(f"{ctx.labels[r]} = {r} ({kinds[ctx.mono[r]]})" for r in ctx.reps)


_PROBE_SELECT = {"val": "step chosen on the validation split", "last": "last step kept"}


def overview(ctx: Context, verdict_df: pd.DataFrame, seeds_note: str | None = None) -> Section:
    d = ctx.data
    cfg = d.config
    what = (f"{cfg.data.name}, {cfg.pretrain.encoder} encoder, linear probe on "
            f"{cfg.probe.features} features ({cfg.probe.optimizer} lr {cfg.probe.lr:g}, "
            f"{cfg.probe.steps} steps, {_PROBE_SELECT[cfg.probe.select]})"
            if cfg is not None else "config.yaml not available")
    blocks: list[tuple[str, Any]] = [
        ("text", f"Run: {what}. Representations: {_rep_line(ctx)}. Seeds: "
                 f"{', '.join(map(str, d.seeds))}."),
        ("table", verdict_df[["claim", "verdict", "mono - poly (pts)",
                              verdict_df.columns[4], "compared at"]] if len(verdict_df) else verdict_df),
        ("text", "Details and the rule: see 'Verdicts per claim'."),
    ]
    if seeds_note:                     # verdicts.few_seeds_note: few seeds, provisional verdicts
        blocks.append(("text", seeds_note))
    missing = d.missing + ctx.notes
    if missing:
        blocks += [("text", "What this run lacks (the report shows everything else):"),
                   ("missing", missing)]
    else:
        blocks.append(("text", "Nothing missing: every scenario, seed and file is present."))
    return Section("overview", "At a glance", blocks)


def verdict_section(vs: list[verdicts.Verdict], verdict_df: pd.DataFrame) -> Section:
    blocks: list[tuple[str, Any]] = [
        ("text", "Each claim of the paper is judged on this run's numbers alone, by a rule "
                 "fixed in advance. " + verdicts.RULE),
        ("table", verdict_df),
    ]
    if note := verdicts.few_seeds_note(vs):
        blocks.append(("text", note))
    for v in vs:
        lines = [f"verdict: {v.verdict} ({v.reason})"] + [c.text() for c in v.details]
        blocks += [("h3", f"{v.claim}: {v.verdict}"), ("text", f"Paper: {v.expectation}."),
                   ("list", lines)]
    return Section("verdicts", "Verdicts per claim", blocks)


def headline(ctx: Context) -> Section:
    d = ctx.data
    fig = figures.headline_bars(d.results, ctx.reps, ctx.labels, ctx.colors, ctx.mono)
    paper = pd.DataFrame([["clean", 66.8, 66.2, 66.7], ["90% label noise", 34.4, 45.9, 48.1],
                          ["Gaussian noise std 0.6", 28.7, 30.6, 33.3]],
                         columns=["paper (ImageNet-100, ResNet-18)", "CL (poly)", "SAE (mono)",
                                  "NCL (mono)"])
    return Section("headline", "Clean vs. noisy accuracy (Figure 1b)", [
        ("figure", fig),
        ("text", "For comparison, the paper's Figure 1 numbers (top-1 %, a different dataset "
                 "and scale; not expected to match in level):"),
        ("table", paper),
    ])


def severity(ctx: Context) -> Section:
    d = ctx.data
    fig = figures.severity_curves(d.summary, ctx.reps, ctx.labels, ctx.colors, ctx.mono)
    return Section("severity", "Accuracy against severity", [
        ("figure", fig),
        ("text", "All numbers: test accuracy (%), mean ± std over seeds."),
        ("table", tables.accuracy_table(d.summary, ctx.reps, ctx.labels)),
    ])


def monosemanticity(ctx: Context) -> Section:
    d = ctx.data
    if d.metrics.empty:
        return Section("monosemanticity", "Monosemanticity and robustness",
                       [("text", "No metrics.jsonl in this run: nothing to show.")])
    points = figures.robustness_points(d.results, d.metrics)
    blocks: list[tuple[str, Any]] = [
        ("text", "Metrics of the clean test features, mean ± std over seeds. Semantic "
                 "consistency is the authors' (majority-label share where a dimension is "
                 "active; about 1/C for dense codes by construction); top-k purity is the "
                 "majority-label share among each dimension's 100 most activated samples, "
                 "which is fair to dense codes."),
        ("table", _with_stability(tables.metrics_table(d.metrics, ctx.reps, ctx.labels), ctx)),
        ("figure", figures.mono_vs_robust(points, ctx.reps, ctx.labels, ctx.colors)),
    ]
    return Section("monosemanticity", "Monosemanticity and robustness", blocks)


def _with_stability(table: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """The metrics table with each representation's cross-seed stability (first two seeds'
    saved test features; "-" with fewer)."""
    from monorobust.report.study import cross_seed_stability

    if table.empty:
        return table
    stab = cross_seed_stability(ctx.features, ctx.reps)
    by_label = {ctx.labels[r]: f"{v:.3f}" for r, v in stab.items()}
    return table.assign(**{"cross-seed stability": [by_label.get(x, "-")
                                                    for x in table["representation"]]})


def feature_gallery(ctx: Context) -> Section:
    if not ctx.features:
        return Section("gallery", "Feature gallery",
                       [("text", "No saved test features (features/): no gallery.")])
    blocks: list[tuple[str, Any]] = []
    for rep in ctx.reps:
        seeds = sorted(s for r, s in ctx.features if r == rep)
        if not seeds:
            blocks.append(("text", f"{ctx.labels[rep]}: no saved features."))
            continue
        title = f"{ctx.labels[rep]}, seed {seeds[0]}"
        fig = gallery.gallery_figure(f"gallery_{_slug(rep)}", title, ctx.features[(rep, seeds[0])],
                                     ctx.classes, ctx.images)
        blocks.append(("figure", fig))
    return Section("gallery", "Feature gallery (Figure 1a)", blocks)


def per_class(ctx: Context) -> Section:
    d = ctx.data
    table = perclass.per_class_table(d.results, lambda r, s: ctx.features.get((r, s)),
                                     sorted(ctx.features), len(ctx.classes))
    fig = perclass.per_class_figure(table, ctx.reps, ctx.labels, ctx.colors, ctx.classes)
    blocks: list[tuple[str, Any]] = [("figure", fig)]
    if not table.empty:
        corr = perclass.correlations(table).set_index("representation")
        corr = corr.reindex([r for r in ctx.reps if r in corr.index]).reset_index()
        corr["representation"] = [ctx.labels.get(r, r) for r in corr.representation]
        corr = corr.rename(columns={"rho_noisy_acc": "rho (purity, noisy acc)",
                                    "p_noisy_acc": "p (noisy acc)", "rho_drop": "rho (purity, drop)",
                                    "p_drop": "p (drop)"})
        blocks += [
            ("text", "The paper (Section 4.1) expects classes whose top dimensions are less "
                     "pure to suffer most: a positive rho for accuracy and a negative rho for "
                     "the drop. Spearman rho over classes (means over seeds), with p-values:"),
            ("table", corr.round(3)),
        ]
    return Section("per-class", "Per-class analysis (Section 4.1)", blocks)


def finetune(ctx: Context) -> Section:
    table = tables.finetune_table(ctx.data.finetune)
    if table.empty:
        return Section("finetune", "Fine-tuning",
                       [("text", "No finetune.jsonl in this run (`monorobust finetune` writes it).")])
    return Section("finetune", "Fine-tuning (claim 2)", [
        ("text", "Full fine-tuning with a standard or monosemantic (ReLU) head. The paper expects "
                 "the mono head to overfit noisy labels less: a smaller train - validation gap "
                 "and a higher test accuracy."),
        ("table", table),
    ])


def toy(ctx: Context) -> Section:
    d = ctx.data
    t = d.toy
    if t is None:
        return Section("toy", "Theory (toy models)", [
            ("text", "No toy/toy.json in this run folder; `monorobust toy --out RUN_DIR/toy` "
                     "adds the toy-model section (claim 5).")])
    blocks: list[tuple[str, Any]] = []
    for part in ("superposition", "two_feature"):
        p = t.get(part)
        if not p:
            blocks.append(("text", f"{part}: not run."))
            continue
        blocks += [("text", f"{part.replace('_', ' ')}:"), ("list", list(p.get("summary", [])))]
    for name in t.get("figures", []):
        path = d.run_dir / "toy" / name
        if path.suffix == ".png" and path.exists():
            blocks.append(("image", (f"toy/{name}", path.read_bytes(), f"toy model: {name}")))
    return Section("toy", "Theory (toy models)", blocks)


def reproducibility(ctx: Context) -> Section:
    d = ctx.data
    blocks: list[tuple[str, Any]] = [("table", tables.provenance_table(d.run_info, d.seeds))]
    if d.config_text:
        blocks += [("text", "Resolved config (config.yaml):"), ("pre", d.config_text)]
    return Section("reproducibility", "Config, versions, hardware", blocks)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)
