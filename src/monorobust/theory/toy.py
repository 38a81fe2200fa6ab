"""``monorobust toy``: both toy parts, their figures and ``OUT/toy.json``.

``toy.json`` schema (``null`` for a part that was not run)::

    {
      "figures": ["toy_superposition_weights.png", ...],   # PNG file names in OUT
      "superposition": {
        "config": {...},                     # every knob of this part (SuperpositionConfig)
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
and the monosemantic one after; ``significant``: the nearest paired differences on both sides
that lie outside their 95% interval have opposite signs. The superposition part's interval is
the t interval over its seeds (4.30 standard errors for 3); the two-feature part's is 2 standard
errors over its 20 Monte Carlo chunks or its repeats. With one seed there is no standard error
and no crossing is significant.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, ClassVar

from monorobust.errors import ConfigError
from monorobust.fields import SEED, check_fields
from monorobust.io import write_json
from monorobust.theory.superposition import single_thread
from monorobust.theory.superposition_part import SuperpositionConfig, run_superposition
from monorobust.theory.two_feature_sweep import TwoFeatureConfig, sweep_two_feature

PARTS = ("superposition", "two-feature", "all")


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    """Every knob of ``monorobust toy``: the parts to run and each part's own config."""

    SECTION: ClassVar[str] = ""
    """Where this config sits: top level (errors name keys as they are)."""

    seed: Annotated[int, SEED] = 0
    """Base seed; the superposition part uses seeds ``seed .. seed + n_seeds - 1``."""
    part: str = "all"
    """``superposition``, ``two-feature`` or ``all``."""
    superposition: SuperpositionConfig = dataclasses.field(default_factory=SuperpositionConfig)
    """The superposition part."""
    two_feature: TwoFeatureConfig = dataclasses.field(default_factory=TwoFeatureConfig)
    """The two-feature part."""

    def __post_init__(self) -> None:
        check_fields(self)
        if self.part not in PARTS:
            raise ConfigError(f"--part {self.part!r}: choose one of {', '.join(PARTS)}")


def run_toy(cfg: ToyConfig, out: str | Path, echo: bool = True) -> dict[str, Any]:
    """Run the chosen parts, write figures and ``out/toy.json``; return the JSON dict."""
    from monorobust.theory import plots

    out = Path(out)
    result: dict[str, Any] = {"superposition": None, "two_feature": None, "figures": []}
    with single_thread():
        if cfg.part in ("superposition", "all"):
            sp, models = run_superposition(cfg.superposition, cfg.seed)
            result["superposition"] = sp
            result["figures"] += plots.plot_superposition(sp, models, out)
            if echo:
                print("superposition:\n  " + "\n  ".join(sp["summary"]), flush=True)
        if cfg.part in ("two-feature", "all"):
            two = sweep_two_feature(cfg.two_feature, cfg.seed)
            result["two_feature"] = two
            result["figures"] += plots.plot_two_feature(two, out)
            if echo:
                print("two-feature:\n  " + "\n  ".join(two["summary"]), flush=True)
    write_json(out / "toy.json", result)
    if echo:
        print(f"wrote {out / 'toy.json'} and {len(result['figures'])} figures", flush=True)
    return result
