"""The probe-protocol registry (one file per protocol)."""

from monorobust.evaluate.protocols import (  # noqa: F401
    converged, fixed, gce, sce, standardised, tuned_l2, val,
)
from monorobust.evaluate.protocols.base import PROTOCOLS, ProbeProtocol, ProtocolFit

__all__ = ["PROTOCOLS", "ProbeProtocol", "ProtocolFit"]
