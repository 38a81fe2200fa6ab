"""monorobust: obtain, measure and stress-test monosemantic features.

Submodules are imported lazily so that ``import monorobust`` stays cheap::

    from monorobust import metrics, perturb, evaluate
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = {
    "adapters", "data", "evaluate", "experiment", "metrics", "models", "objectives",
    "perturb", "report", "sae", "theory", "train",
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return import_module(f"monorobust.{name}")
    raise AttributeError(f"module 'monorobust' has no attribute {name!r}")
