"""Configuration of the linear probe and of the robustness grid."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar

from monorobust.errors import ConfigError
from monorobust.fields import AT_LEAST_1, NON_NEGATIVE, POSITIVE, check_distinct, check_fields
from monorobust.train.optim import OPTIMIZERS


@dataclass(frozen=True)
class ProbeConfig:
    SECTION: ClassVar[str] = "probe"
    """Where this config sits in the run config: errors name keys as SECTION.field."""

    features: str = "projector"
    """Which features to probe: "projector" (the paper's choice; ReLU'd for NCL) or "backbone"."""
    steps: Annotated[int, AT_LEAST_1] = 1000
    """Optimiser steps (minibatches) of the probe's training."""
    batch_size: Annotated[int, AT_LEAST_1] = 1024
    """Minibatch size (the whole training set when it is smaller)."""
    optimizer: str = "adamw"
    """``adamw``, ``sgd`` (momentum 0.9) or ``lars`` (solo-learn's; the authors' CIFAR probe uses
    it with lr 0.4, their ImageNet probe SGD with lr 1.5)."""
    lr: Annotated[float, POSITIVE] = 1e-3
    """Learning rate (cosine decay to zero)."""
    weight_decay: Annotated[float, NON_NEGATIVE] = 0.0
    """Weight decay."""
    select: str = "val"
    """How the probe's final weights are chosen: "val" keeps the step with the best accuracy on
    the validation split (whose labels carry the same noise as the training labels: only noisy
    labels exist in that setting), "last" keeps the last step (the authors' fixed schedule)."""
    eval_every: Annotated[int, AT_LEAST_1] = 50
    """Validation accuracy is measured every this many steps (for select = "val")."""

    def __post_init__(self) -> None:
        check_fields(self)
        if self.features not in ("projector", "backbone"):
            raise ConfigError(f"probe.features must be 'projector' or 'backbone', got {self.features!r}")
        if self.select not in ("val", "last"):
            raise ConfigError(f"probe.select must be 'val' or 'last', got {self.select!r}")
        OPTIMIZERS.get(self.optimizer)          # an unknown name fails here, listing the known


PAPER_SCENARIOS = ("clean", "label_noise", "gaussian_noise", "uniform_noise", "few_shot",
                   "sketch", "corrupt")
"""The paper-style protocol, in the order of its tables: the scenarios its claims need."""


def _default_scenarios() -> dict[str, tuple[float, ...]]:
    from monorobust.evaluate.scenarios import SCENARIOS

    return {name: SCENARIOS.get(name).defaults for name in PAPER_SCENARIOS}


@dataclass(frozen=True)
class GridConfig:
    SECTION: ClassVar[str] = "grid"
    """Where this config sits in the run config: errors name keys as SECTION.field."""

    scenarios: dict[str, tuple[float, ...]] = field(default_factory=_default_scenarios)
    """Scenario name -> severities (label-noise rate, noise std or half-width, k per class,
    corruption severity 1-5). Names from ``monorobust.evaluate.SCENARIOS``."""
    corruptions: tuple[str, ...] = ("contrast", "fog", "pixelate", "motion_blur",
                                    "jpeg_compression", "elastic_transform")
    """ImageNet-C corruptions averaged in the "corrupt" scenario (corrupt-tta names)."""
    corruption_calibration: str = "auto"
    """Whose parameters the corruptions take (``perturb.calibration``; docs/corruptions.md):
    "cifar-10-c" (CIFAR-10-C's tables, for 32-px images; their pixel lengths scaled by
    min(H, W) / 32; a name without one here is refused), "imagenet-c"
    (ImageNet-C's 224-px tables via corrupt-tta, unchanged at any size), or "auto":
    "cifar-10-c" when the images' shorter side is at most 64 px, else "imagenet-c"."""
    shift_test_size: Annotated[int, AT_LEAST_1] | None = 2000
    """Test images used for the out-of-domain scenarios (corrupt, sketch); null: all."""

    def __post_init__(self) -> None:
        from monorobust.evaluate.scenarios import SCENARIOS

        check_fields(self)                      # severities finite; each scenario checks its own
        if not self.scenarios:
            raise ConfigError("grid.scenarios names no scenario, so there is nothing to run; give "
                              "at least one, e.g. --set 'grid.scenarios={clean: [0]}'")
        for name, severities in self.scenarios.items():
            SCENARIOS.get(name).check(tuple(severities), num_classes=None)
            check_distinct(f"grid.scenarios.{name}", severities)
        if "corrupt" in self.scenarios:
            from monorobust.perturb import corruption_names

            known = corruption_names()
            if not known:
                raise ConfigError("the 'corrupt' scenario needs corrupt-tta: pip install "
                                  "corrupt-tta==0.1.7, or remove grid.scenarios.corrupt")
            if not self.corruptions:
                raise ConfigError("grid.corruptions is empty: the 'corrupt' scenario averages "
                                  f"over them; list at least one ({', '.join(known)}) or remove "
                                  "grid.scenarios.corrupt")
            for c in self.corruptions:
                if c not in known:
                    raise ConfigError(f"grid.corruptions: unknown corruption {c!r}; known: {', '.join(known)}")
        from monorobust.perturb.calibration import CALIBRATIONS, check_supported

        if self.corruption_calibration not in CALIBRATIONS:
            raise ConfigError("grid.corruption_calibration must be one of "
                              f"{', '.join(CALIBRATIONS)}, got {self.corruption_calibration!r}")
        if "corrupt" in self.scenarios:         # "auto": once the image size is known (check_grid)
            check_supported(self.corruptions, self.corruption_calibration)
