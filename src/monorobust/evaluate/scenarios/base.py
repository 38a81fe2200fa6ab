"""Robustness scenarios, one per file, registered by name.

A scenario perturbs either what the probe is *trained* on (``kind = "train"``: label noise,
few-shot) or what it is *tested* on (``kind = "test"``: clean, input noise, domain shift). Test
scenarios reuse the probe trained on clean data; train scenarios train a probe of their own and
score it on the clean test split.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch

from monorobust.errors import ConfigError
from monorobust.registry import Registry


class TrainSet(NamedTuple):
    """What a probe is trained and selected on: indices into the train / val splits, labels."""

    train_idx: torch.Tensor
    train_labels: torch.Tensor
    val_idx: torch.Tensor
    val_labels: torch.Tensor
    realised_noise_rate: float
    """Share of training labels that differ from the true ones (0 without label noise)."""


class Scenario:
    """Base class. Subclasses set ``name``, ``kind``, ``severity_name`` and override hooks."""

    name: ClassVar[str]
    kind: ClassVar[str]                   # "train" or "test"
    severity_name: ClassVar[str]          # what the severity means, for tables and plots
    integer_severity: ClassVar[bool] = False

    def check(self, severities: tuple[float, ...], num_classes: int | None,
              min_class_size: int | None = None) -> None:
        """Raise ``ConfigError`` for severities this scenario cannot run (before any work)."""
        if not severities:
            raise ConfigError(f"grid.scenarios.{self.name} lists no severities")
        for s in severities:
            if self.integer_severity and float(s) != int(s):
                raise ConfigError(f"grid.scenarios.{self.name}: {self.severity_name} must be an integer, got {s}")
            if s < 0:
                raise ConfigError(f"grid.scenarios.{self.name}: {self.severity_name} must be >= 0, got {s}")

    def train_set(self, train_labels: torch.Tensor, val_labels: torch.Tensor, severity: float,
                  num_classes: int, gen: torch.Generator) -> TrainSet:
        """Train scenarios: the (perturbed) training and validation sets. Default: all, clean."""
        return TrainSet(torch.arange(len(train_labels)), train_labels,
                        torch.arange(len(val_labels)), val_labels, 0.0)

    def test_images(self, images: torch.Tensor, severity: float, seed: int, grid) -> torch.Tensor:
        """Test scenarios: uint8 test images (N, C, H, W) -> perturbed float images in [0, 1]."""
        return images.float() / 255

    def test_subset(self, grid) -> int | None:
        """How many test images this scenario uses (None: all)."""
        return None


SCENARIOS: Registry[Scenario] = Registry("scenario")


def register(cls: type[Scenario]) -> type[Scenario]:
    SCENARIOS.register(cls.name)(cls())
    return cls
