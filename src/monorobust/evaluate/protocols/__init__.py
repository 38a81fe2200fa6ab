"""The probe-protocol registry: one file per protocol, each imported (and so registered) here."""

from monorobust.evaluate.protocols.base import PROTOCOLS, ProbeProtocol, ProtocolFit
from monorobust.registry import import_entries

import_entries(__name__, __path__)

__all__ = ["PROTOCOLS", "ProbeProtocol", "ProtocolFit"]
