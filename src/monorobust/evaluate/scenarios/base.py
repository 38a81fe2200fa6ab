"""Robustness scenarios, one per file, registered by name; each entry carries its own facts.

A scenario perturbs either what the probe is *trained* on (``Phase.TRAIN``: label noise,
few-shot) or what it is *tested* on (``Phase.TEST``: clean, input noise, domain shift). Test
scenarios reuse the probe trained on clean data; train scenarios train a probe of their own and
score it on the clean test split.

Everything the rest of the package needs to know about a scenario is declared on its class, the
way timm's model entries carry their default config: its phase, title and axis label for the
report, the claim of the paper it serves and which of its severities is the primary one for the
verdict, whether its severity 0 is the clean setting, its default severities, and the typed
parameters it reads from the grid. Adding a scenario is adding one file.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import torch

from monorobust.errors import ConfigError
from monorobust.registry import Registry

NO_SEVERITY = "none"
"""``severity_name`` of a scenario without a severity (clean, sketch): its one severity is its
default, and a config may list only that."""

CLEAN = "clean"
"""The reference scenario: unperturbed training and test data. Every test-time scenario's probe
is trained on it, and every train-time scenario is scored on its test split."""


class Phase(enum.Enum):
    """What a scenario perturbs."""

    TRAIN = "train"
    """The probe's training (and validation) set: its labels or its size."""
    TEST = "test"
    """The test images; the probe trained on clean data is reused."""


class Claim(NamedTuple):
    """One of the paper's claims, judged on the primary severity of each scenario serving it."""

    title: str
    expectation: str
    parity: bool = False
    """True: mono should roughly *match* poly (clean data); False: mono should beat poly."""


CLAIMS: dict[str, Claim] = {
    "clean": Claim("clean parity", "on clean data mono roughly matches poly", parity=True),
    "label_noise": Claim("label noise", "mono beats poly under (strong) label noise"),
    "input_noise": Claim("input noise", "mono beats poly under (strong) input noise"),
    "few_shot": Claim("few-shot", "mono beats poly with few labelled examples"),
    "ood": Claim("out-of-domain", "mono beats poly under distribution shift"),
}


class TrainSet(NamedTuple):
    """What a probe is trained and selected on: indices into the train / val splits, labels."""

    train_idx: torch.Tensor
    train_labels: torch.Tensor
    val_idx: torch.Tensor
    val_labels: torch.Tensor
    realised_noise_rate: float
    """Share of training labels that differ from the true ones (0 without label noise)."""


class Scenario:
    """Base class. Subclasses declare the facts below and override the hooks of their phase."""

    name: ClassVar[str]
    phase: ClassVar[Phase]
    title: ClassVar[str]
    """Its name in the report's headings."""
    severity_name: ClassVar[str]
    """What the severity means, in a few words (result rows carry it)."""
    axis: ClassVar[str] = "severity"
    """The label of a plot's severity axis."""
    claim: ClassVar[str | None] = None
    """The key in ``CLAIMS`` this scenario serves (None: shown, never judged)."""
    primary: ClassVar[Callable[[list[float]], float]] = max
    """Which of a run's severities the verdict uses: ``max`` (the strongest perturbation) or
    ``min`` (e.g. the fewest labelled examples)."""
    zero_is_clean: ClassVar[bool] = False
    """Severity 0 is the clean setting: curves start at the clean accuracy, drawn at x = 0."""
    log_axis: ClassVar[bool] = False
    """Severities span orders of magnitude (k per class): a log axis, with the full-data (clean)
    accuracy drawn as a reference line."""
    defaults: ClassVar[tuple[float, ...]] = ()
    """Severities of the paper-style default grid."""
    integer_severity: ClassVar[bool] = False
    needs_data: ClassVar[bool] = False
    """``train_set`` also takes the run's ``DataConfig`` as ``data=`` (per-sample side data in
    the dataset's own order, such as CIFAR-N's human labels); runs without one refuse it."""

    def params(self, grid: Any) -> Any:
        """The typed parameters this scenario reads from the grid config (None: none)."""
        return None

    def check(self, severities: tuple[float, ...], num_classes: int | None,
              min_class_size: int | None = None, min_val_class_size: int | None = None) -> None:
        """Raise ``ConfigError`` for severities this scenario cannot run (before any work).

        ``min_class_size`` / ``min_val_class_size``: the smallest class of the training /
        validation split, where the data is known."""
        if not severities:
            raise ConfigError(f"grid.scenarios.{self.name} lists no severities")
        if self.severity_name == NO_SEVERITY and set(severities) != set(self.defaults):
            only = ", ".join(f"{d:g}" for d in self.defaults)
            raise ConfigError(f"grid.scenarios.{self.name} has no severity: list [{only}], got "
                              f"{list(severities)} (other values would repeat the same test)")
        for s in severities:
            if self.integer_severity and float(s) != int(s):
                raise ConfigError(f"grid.scenarios.{self.name}: {self.severity_name} must be an integer, got {s}")
            if s < 0:
                raise ConfigError(f"grid.scenarios.{self.name}: {self.severity_name} must be >= 0, got {s}")

    def train_set(self, train_labels: torch.Tensor, val_labels: torch.Tensor, severity: float,
                  num_classes: int, gen: torch.Generator) -> TrainSet:
        """Train phase: the (perturbed) training and validation sets. Default: all, clean."""
        return TrainSet(torch.arange(len(train_labels)), train_labels,
                        torch.arange(len(val_labels)), val_labels, 0.0)

    def test_images(self, images: torch.Tensor, severity: float, seed: int, params: Any) -> torch.Tensor:
        """Test phase: uint8 test images (N, C, H, W) -> perturbed float images in [0, 1]."""
        return images.float() / 255

    def test_subset(self, params: Any) -> int | None:
        """How many test images this scenario uses (None: all)."""
        return None


SCENARIOS: Registry[Scenario] = Registry("scenario")


def register(cls: type[Scenario]) -> type[Scenario]:
    SCENARIOS.register(cls.name)(cls())
    return cls


def claim_scenarios(claim: str) -> list[str]:
    """The registered scenarios serving ``claim``, by name."""
    return [name for name in SCENARIOS if SCENARIOS.get(name).claim == claim]
