"""The report's "Training" section: per-step pretraining loss of every objective and seed.

Reads the CSV curves ``train.logs`` writes next to each encoder's checkpoints; an encoder
without one (a run from before the logs existed, or one still to pretrain) is listed as missing.
"""

from __future__ import annotations

import pandas as pd

from monorobust.report.render import Section
from monorobust.report.style import message_figure, new_figure, render
from monorobust.rundir import RunDir


def encoders(ctx) -> list[tuple[str, int]]:
    """(objective, seed) of every pretraining the run's representations need."""
    from monorobust.evaluate import REPRESENTATIONS

    cfg = ctx.data.config
    if cfg is None:
        return []
    objectives = dict.fromkeys(REPRESENTATIONS.get(r).objective for r in cfg.representations
                               if r in REPRESENTATIONS)
    return [(obj, seed) for obj in objectives for seed in cfg.seeds]


def training_section(ctx) -> Section:
    from monorobust.train.logs import read_curve

    run_dir = RunDir(ctx.data.run_dir)
    curves, missing = {}, []
    for obj, seed in encoders(ctx):
        curve = read_curve(run_dir.checkpoints(obj, seed))
        if curve is None:
            missing.append(f"checkpoints/{obj}-seed{seed}/logs: no per-step curve")
        else:
            curves[(obj, seed)] = curve
    caption = ("Pretraining loss per optimiser step (NT-Xent; NCL adds its activity term when "
               "configured), one line per seed, one panel per objective.")
    if not curves:
        blocks = [("figure", message_figure("training", caption, "no pretraining curves"))]
    else:
        blocks = [("text", "Each pretraining logs loss, learning rate and images/s per step to "
                           "checkpoints/OBJECTIVE-seedS/logs/version_K/metrics.csv."),
                  ("figure", loss_figure(curves, caption)),
                  ("table", curve_table(curves))]
    if missing:
        blocks.append(("missing", missing))
    return Section("training", "Training", blocks)


def loss_figure(curves: dict[tuple[str, int], pd.DataFrame], caption: str):
    objectives = list(dict.fromkeys(obj for obj, _ in curves))
    fig, axes = new_figure(1, len(objectives), (4.2 * len(objectives), 3.2), sharey=True)
    for ax, obj in zip(axes[0], objectives):
        for (o, seed), df in curves.items():
            if o == obj:
                ax.plot(df["step"], df["loss"], lw=1, label=f"seed {seed}")
        ax.set_title(obj)
        ax.set_xlabel("step")
        ax.legend()
    axes[0][0].set_ylabel("loss")
    return render(fig, "training", caption)


def curve_table(curves: dict[tuple[str, int], pd.DataFrame]) -> pd.DataFrame:
    rows = []
    for (obj, seed), df in curves.items():
        last_epoch = df[df["epoch"] == df["epoch"].max()]
        rows.append({"objective": obj, "seed": seed, "steps": len(df),
                     "first loss": f"{df['loss'].iloc[0]:.4f}",
                     "last-epoch loss": f"{last_epoch['loss'].mean():.4f}",
                     "median images/s": f"{df['images_per_second'].median():.0f}"})
    return pd.DataFrame(rows)
