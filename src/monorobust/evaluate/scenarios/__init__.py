"""The scenario registry: one file per scenario, each imported (and so registered) here."""

from monorobust.evaluate.scenarios.base import (
    CLAIMS, CLEAN, SCENARIOS, Claim, Phase, Scenario, TrainSet, claim_scenarios,
)
from monorobust.registry import import_entries

import_entries(__name__, __path__)

__all__ = ["CLAIMS", "CLEAN", "SCENARIOS", "Claim", "Phase", "Scenario", "TrainSet",
           "claim_scenarios"]
