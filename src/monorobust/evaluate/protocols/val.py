"""``val``: today's probe. Base optimiser and schedule; the step with the best validation
accuracy is kept (early stopping on the validation split, whose labels are as noisy as the
training labels)."""

from dataclasses import replace

from monorobust.evaluate.batched import train_probes
from monorobust.evaluate.protocols.base import ProbeProtocol, ProtocolFit, n_probes, register


@register
class Val(ProbeProtocol):
    name = "val"
    description = "the run's probe: cosine schedule, best validation step kept (early stopping)"
    selection = "step with the best validation accuracy"
    uses_validation = True

    def fit(self, train_x, train_y, val_x, val_y, num_classes, cfg, seed):
        probes = train_probes(train_x, train_y, val_x, val_y, num_classes,
                              replace(cfg, select="val"), seed)
        return ProtocolFit(probes, [0.0] * n_probes(train_y))
