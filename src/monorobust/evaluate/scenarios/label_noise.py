"""Symmetric label noise: a fixed share of training (and validation) labels moved to another class.

The validation labels carry the same noise: a practitioner with noisy labels has no clean ones
to select with. Under symmetric noise below (C-1)/C, accuracy on noisy labels is an increasing
function of clean accuracy, so selecting on it is still sound.
"""

import torch

from monorobust.evaluate.scenarios.base import Phase, Scenario, TrainSet, register
from monorobust.perturb import check_label_noise_rate, symmetric_label_noise


@register
class LabelNoise(Scenario):
    name, phase, title, severity_name = "label_noise", Phase.TRAIN, "label noise", "noise rate"
    axis = "share of training labels flipped"
    claim, primary, zero_is_clean = "label_noise", max, True
    defaults = (0.2, 0.4, 0.6, 0.8)

    def check(self, severities, num_classes, min_class_size=None, min_val_class_size=None):
        super().check(severities, num_classes)
        for rate in severities:
            check_label_noise_rate(rate, num_classes or 1_000_000)

    def train_set(self, train_labels, val_labels, severity, num_classes, gen) -> TrainSet:
        train = symmetric_label_noise(train_labels, severity, num_classes, gen)
        val = symmetric_label_noise(val_labels, severity, num_classes, gen)
        return TrainSet(torch.arange(len(train_labels)), train.labels,
                        torch.arange(len(val_labels)), val.labels, train.realised_rate)
