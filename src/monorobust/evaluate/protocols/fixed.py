"""``fixed``: the authors' fixed schedule. The base config's optimiser and learning rate, cosine
decay over its steps, and the *last* step kept: nothing is selected on validation, so the probe
memorises noisy labels as far as the schedule lets it (the way the authors' solo-learn code and
many papers train linear probes)."""

from dataclasses import replace

from monorobust.evaluate.batched import train_probes
from monorobust.evaluate.protocols.base import ProbeProtocol, ProtocolFit, n_probes, register


@register
class Fixed(ProbeProtocol):
    name = "fixed"
    description = "fixed schedule (optimiser and lr of the run's probe), last step kept"
    selection = "last step"
    uses_validation = False

    def fit(self, train_x, train_y, val_x, val_y, num_classes, cfg, seed):
        probes = train_probes(train_x, train_y, val_x, val_y, num_classes,
                              replace(cfg, select="last"), seed)
        return ProtocolFit(probes, [0.0] * n_probes(train_y))
