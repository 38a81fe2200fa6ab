"""Clean: the probe trained on clean training features, scored on the clean test split."""

from monorobust.evaluate.scenarios.base import Scenario, register


@register
class Clean(Scenario):
    name = "clean"
    kind = "test"
    severity_name = "none"
