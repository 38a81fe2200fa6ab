"""Frozen-feature evaluation: extraction, linear probe, scenarios, the robustness grid.

Bring your own encoder::

    from monorobust import evaluate
    rows = evaluate.robustness(encode, "digits")
"""

from monorobust.evaluate.api import check_grid, encode_feature_set, feature_metrics, robustness
from monorobust.evaluate.arrays import ArraysResult, evaluate_arrays, load_array
from monorobust.evaluate.batched import train_probes
from monorobust.evaluate.config import GridConfig, ProbeConfig
from monorobust.evaluate.features import extract, model_encoder
from monorobust.evaluate.grid import FeatureSet, evaluate_features, grid_points, test_key
from monorobust.evaluate.probe import Probe, train_probe
from monorobust.evaluate.protocols import PROTOCOLS, ProbeProtocol, ProtocolFit
from monorobust.evaluate.representations import REPRESENTATIONS, Representation
from monorobust.evaluate.scenarios import SCENARIOS, Scenario

__all__ = ["PROTOCOLS", "REPRESENTATIONS", "SCENARIOS", "ArraysResult", "FeatureSet", "GridConfig",
           "Probe", "ProbeConfig", "ProbeProtocol", "ProtocolFit", "evaluate_arrays", "load_array",
           "Representation", "Scenario", "check_grid", "encode_feature_set", "evaluate_features",
           "extract", "feature_metrics", "grid_points", "model_encoder", "robustness", "test_key",
           "train_probe", "train_probes"]
