"""Few-shot: the probe sees k labelled training examples per class.

Its validation set is k examples per class from the validation split too (fewer, as many as
its smallest class has, when that is below k): a k-shot practitioner has no large labelled set
to select with.
"""

import torch

from monorobust.errors import ConfigError
from monorobust.evaluate.scenarios.base import Phase, Scenario, TrainSet, register
from monorobust.perturb import few_shot_indices


@register
class FewShot(Scenario):
    name, phase, title, severity_name = "few_shot", Phase.TRAIN, "few-shot", "examples per class"
    axis = "labelled examples per class (k)"
    claim, primary, log_axis = "few_shot", min, True   # the fewest examples is the hardest
    defaults = (1, 5, 10, 50)
    integer_severity = True

    def check(self, severities, num_classes, min_class_size=None, min_val_class_size=None):
        super().check(severities, num_classes)
        for k in severities:
            if k < 1:
                raise ConfigError(f"grid.scenarios.few_shot: k must be >= 1, got {k}")
            if min_class_size is not None and k > min_class_size:
                raise ConfigError(f"grid.scenarios.few_shot: k={int(k)} exceeds the smallest class "
                                  f"of the training split ({min_class_size} examples); lower k")
        if min_val_class_size == 0:
            raise ConfigError("grid.scenarios.few_shot: a class has no validation example, and "
                              "few-shot selects on some of every class; raise data.val_fraction "
                              "or add images to the smallest class")

    def train_set(self, train_labels, val_labels, severity, num_classes, gen) -> TrainSet:
        k = int(severity)
        train_idx = few_shot_indices(train_labels, k, num_classes, gen)
        k_val = min(k, int(torch.bincount(val_labels, minlength=num_classes).min()))
        val_idx = few_shot_indices(val_labels, k_val, num_classes, gen)
        return TrainSet(train_idx, train_labels[train_idx], val_idx, val_labels[val_idx], 0.0)
