"""``monorobust toy``: both toy parts, their figures and ``OUT/toy.json``.

``toy.json`` schema (``null`` for a part that was not run)::

    {
      "figures": ["toy_superposition_weights.png", ...],   # PNG file names in OUT
      "superposition": {
        "config": {...},                     # every knob of this part (ToyConfig fields)
        "seeds": [0, 1, 2],
        "task": "...",                       # the downstream task, in words
        "models": {"poly"|"mono": [          # one entry per seed
            {"seed", "final_loss", "represented", "mean_top_share", "dims_per_feature",
             "max_interference", "polysemantic_dims", "feature_norms": [n], "top_share": [m],
             "features_per_dim": [m]}]},
        "label_noise": {"rates": [...], "realised_rates": [...],
                        "accuracy": {"poly"|"mono": {"per_seed": [[...]], "mean": [...],
                                                     "std": [...]}},
                        "crossovers": [{"at", "direction", "significant"}]},
        "input_noise": {"stds": [...], "accuracy": {...as above}, "crossovers": [...]},
        "summary": ["one line per finding", ...]
      },
      "two_feature": {
        "config": {...}, "closed_form": {...}, "measures": {name: description},
        "label_noise": {"rates": [...], "curves": {measure: {"mono"|"poly"|"weighted":
                            {"mean": [...], "se": [...]}}},
                        "crossovers": {measure: {"poly"|"weighted": [{"at", "direction",
                                                                      "significant"}]}}},
        "input_noise": {"stds": [...], "curves": ..., "crossovers": ...},
        "summary": ["<measure>, mono vs <code>: <crossings, or 'no crossover ...'>", ...]
      }
    }

A crossover's ``direction`` is ``mono_overtakes`` when the polysemantic code is better before
and the monosemantic one after; ``significant`` compares the paired difference with 2 standard
errors (over seeds, repeats or Monte Carlo chunks) on both sides.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, ClassVar

from monorobust.errors import ConfigError
from monorobust.fields import AT_LEAST_1, FRACTION, NON_NEGATIVE, POSITIVE, Range, check_fields
from monorobust.io import write_json
from monorobust.theory.superposition import single_thread

PARTS = ("superposition", "two-feature", "all")


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    """Every knob of ``monorobust toy``; validated before any work."""

    SECTION: ClassVar[str] = ""
    """Where this config sits in the run config: errors name keys as SECTION.field."""

    seed: Annotated[int, NON_NEGATIVE] = 0
    """Base seed; the superposition part uses seeds ``seed .. seed + n_seeds - 1``."""
    part: str = "all"
    """``superposition``, ``two-feature`` or ``all``."""
    n_features: Annotated[int, AT_LEAST_1] = 40
    """Toy model: number of sparse input features n."""
    n_hidden: Annotated[int, AT_LEAST_1] = 20
    """Toy model: hidden dimensions m."""
    sparsity: Annotated[float, FRACTION] = 0.9
    """Toy model: probability that a feature is zero, in [0, 1)."""
    importance_decay: Annotated[float, POSITIVE] = 0.9
    """Toy model: importance of feature i is decay**i (1 = all equal)."""
    steps: Annotated[int, AT_LEAST_1] = 3000
    """Toy model: Adam steps."""
    batch_size: Annotated[int, AT_LEAST_1] = 1024
    """Toy model: samples per step."""
    n_seeds: Annotated[int, AT_LEAST_1] = 3
    """Toy model: seeds (independent models, data and noise) for the spread bands."""
    num_classes: Annotated[int, Range(ge=2)] = 4
    """Downstream task: classes C (feature groups)."""
    label_rates: Annotated[tuple[float, ...], NON_NEGATIVE] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    """Downstream task: label-noise rates, each in [0, 1 - 1/C)."""
    noise_stds: Annotated[tuple[float, ...], NON_NEGATIVE] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)
    """Downstream task: Gaussian input-noise stds (>= 0) added to x before encoding."""
    n_train: Annotated[int, AT_LEAST_1] = 4000
    """Downstream task: training (and test) samples per seed."""
    probe_steps: Annotated[int, AT_LEAST_1] = 300
    """Downstream task: full-batch Adam steps of the linear classifier."""
    represented_threshold: Annotated[float, NON_NEGATIVE] = 0.5
    """A feature is represented when its column norm in W exceeds this."""
    tf_sparsity: Annotated[float, FRACTION] = 0.5
    """Two-feature example: probability S that x1 (or x2) is zero, in [0, 1)."""
    tf_weights: Annotated[tuple[float, float], POSITIVE] = (1.0, 0.5)
    """Two-feature example: (w1, w2) of the weighted code w1 x1 - w2 x2."""
    tf_label_rates: Annotated[tuple[float, ...], NON_NEGATIVE] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45)
    """Two-feature example: label-noise rates, each in [0, 0.5)."""
    tf_noise_stds: Annotated[tuple[float, ...], NON_NEGATIVE] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0)
    """Two-feature example: Gaussian noise stds (>= 0) added to each of x1, x2."""
    tf_n_train: Annotated[tuple[int, ...], Range(ge=2)] = (100, 1000)
    """Two-feature example: training-set sizes for the finite-sample threshold classifier."""
    tf_repeats: Annotated[int, AT_LEAST_1] = 200
    """Two-feature example: training sets per size (Monte Carlo repeats)."""
    tf_n_pop: Annotated[int, Range(ge=2000)] = 200_000
    """Two-feature example: Monte Carlo samples for the population measures."""

    def __post_init__(self) -> None:
        check_fields(self)
        if self.part not in PARTS:
            raise ConfigError(f"--part {self.part!r}: choose one of {', '.join(PARTS)}")
        for name, classes in (("label_rates", self.num_classes), ("tf_label_rates", 2)):
            limit = 1.0 - 1.0 / classes
            for r in getattr(self, name):
                if not 0.0 <= r < limit:
                    raise ConfigError(f"--{name.replace('_', '-')} {r}: must be in [0, {limit:g}) "
                                      f"for {classes} classes (1 - 1/C); lower it")


def run_toy(cfg: ToyConfig, out: str | Path, echo: bool = True) -> dict[str, Any]:
    """Run the chosen parts, write figures and ``out/toy.json``; return the JSON dict."""
    from monorobust.theory import plots
    from monorobust.theory.superposition_part import run_superposition
    from monorobust.theory.two_feature_sweep import sweep_two_feature

    out = Path(out)
    result: dict[str, Any] = {"superposition": None, "two_feature": None, "figures": []}
    with single_thread():
        if cfg.part in ("superposition", "all"):
            sp, models = run_superposition(cfg)
            result["superposition"] = sp
            result["figures"] += plots.plot_superposition(sp, models, out)
            if echo:
                print("superposition:\n  " + "\n  ".join(sp["summary"]), flush=True)
        if cfg.part in ("two-feature", "all"):
            two = sweep_two_feature(
                sparsity=cfg.tf_sparsity, weights=cfg.tf_weights, label_rates=cfg.tf_label_rates,
                noise_stds=cfg.tf_noise_stds, n_train=cfg.tf_n_train, repeats=cfg.tf_repeats,
                n_pop=cfg.tf_n_pop, seed=cfg.seed)
            result["two_feature"] = two
            result["figures"] += plots.plot_two_feature(two, out)
            if echo:
                print("two-feature:\n  " + "\n  ".join(two["summary"]), flush=True)
    write_json(out / "toy.json", result)
    if echo:
        print(f"wrote {out / 'toy.json'} and {len(result['figures'])} figures", flush=True)
    return result
