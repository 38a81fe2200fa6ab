"""Pure, seeded perturbations: label noise, input noise, few-shot subsets, domain shifts.

Every function takes its randomness explicitly (a ``torch.Generator`` or a seed) and never
touches the global RNG.
"""

from monorobust.perturb.few_shot import few_shot_indices
from monorobust.perturb.input_noise import gaussian_noise, uniform_noise
from monorobust.perturb.instance_noise import instance_label_noise, reference_probs
from monorobust.perturb.label_noise import NoisyLabels, check_label_noise_rate, symmetric_label_noise
from monorobust.perturb.noise_types import LABEL_NOISE_TYPES, LabelNoiseType
from monorobust.perturb.pairflip import pair_mapping, pairflip_label_noise
from monorobust.perturb.regime import regime_indices
from monorobust.perturb.shift import (
    corrupt, corrupt_each, corruption_names, set_corrupt_workers, sketch,
)

__all__ = ["LABEL_NOISE_TYPES", "LabelNoiseType", "NoisyLabels", "check_label_noise_rate",
           "corrupt", "corrupt_each", "corruption_names", "few_shot_indices", "gaussian_noise",
           "instance_label_noise", "pair_mapping", "pairflip_label_noise", "reference_probs",
           "regime_indices", "set_corrupt_workers", "sketch", "symmetric_label_noise", "uniform_noise"]
