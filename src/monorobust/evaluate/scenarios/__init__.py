"""The scenario registry (one file per scenario)."""

from monorobust.evaluate.scenarios import (  # noqa: F401
    clean, domain_shift, few_shot, human_noise, input_noise, label_noise,
)
from monorobust.evaluate.scenarios.base import (
    CLAIMS, CLEAN, SCENARIOS, Claim, Phase, Scenario, TrainSet, claim_scenarios,
)

__all__ = ["CLAIMS", "CLEAN", "SCENARIOS", "Claim", "Phase", "Scenario", "TrainSet",
           "claim_scenarios"]
