"""The scenario registry (one file per scenario)."""

from monorobust.evaluate.scenarios import clean, domain_shift, few_shot, input_noise, label_noise  # noqa: F401
from monorobust.evaluate.scenarios.base import (
    CLAIMS, CLEAN, SCENARIOS, Claim, Phase, Scenario, TrainSet, claim_scenarios,
)

__all__ = ["CLAIMS", "CLEAN", "SCENARIOS", "Claim", "Phase", "Scenario", "TrainSet",
           "claim_scenarios"]
