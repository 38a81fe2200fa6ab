"""Pure, seeded perturbations: label noise, input noise, few-shot subsets, domain shifts.

Every function takes its randomness explicitly (a ``torch.Generator`` or a seed) and never
touches the global RNG.
"""

from monorobust.perturb.few_shot import few_shot_indices
from monorobust.perturb.input_noise import gaussian_noise, uniform_noise
from monorobust.perturb.label_noise import NoisyLabels, check_label_noise_rate, symmetric_label_noise
from monorobust.perturb.shift import corrupt, corruption_names, sketch

__all__ = ["NoisyLabels", "check_label_noise_rate", "corrupt", "corruption_names",
           "few_shot_indices", "gaussian_noise", "sketch", "symmetric_label_noise", "uniform_noise"]
