"""``sce``: symmetric cross-entropy (Wang et al. 2019: alpha 0.1, beta 1.0, their CIFAR-10
setting; log 0 clamped to A = -4 as in the paper) in place of cross-entropy, on the ``fixed``
schedule (last step kept), for the same reason as ``gce``."""

from dataclasses import replace
from functools import partial

from monorobust.evaluate.batched import train_probes
from monorobust.evaluate.protocols.base import ProbeProtocol, ProtocolFit, n_probes, register
from monorobust.objectives import symmetric_cross_entropy

ALPHA, BETA, LOG_ZERO = 0.1, 1.0, -4.0


@register
class SCE(ProbeProtocol):
    name = "sce"
    description = "symmetric cross-entropy (alpha 0.1, beta 1, A = -4) on the fixed schedule"
    loss = f"symmetric cross-entropy, alpha = {ALPHA}, beta = {BETA}, A = {LOG_ZERO}"
    selection = "last step"
    uses_validation = False

    def fit(self, train_x, train_y, val_x, val_y, num_classes, cfg, seed):
        loss_fn = partial(symmetric_cross_entropy, alpha=ALPHA, beta=BETA, log_zero=LOG_ZERO)
        probes = train_probes(train_x, train_y, val_x, val_y, num_classes,
                              replace(cfg, select="last"), seed, loss_fn=loss_fn)
        return ProtocolFit(probes, [0.0] * n_probes(train_y))
