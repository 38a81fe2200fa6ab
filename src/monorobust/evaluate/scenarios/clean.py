"""Clean: the probe trained on clean training features, scored on the clean test split."""

from monorobust.evaluate.scenarios.base import CLEAN, NO_SEVERITY, Phase, Scenario, register


@register
class Clean(Scenario):
    name, phase, title, severity_name = CLEAN, Phase.TEST, "clean", NO_SEVERITY
    claim, defaults = "clean", (0.0,)
