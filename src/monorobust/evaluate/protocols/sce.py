"""``sce``: symmetric cross-entropy (Wang et al. 2019: alpha 0.1, beta 1.0, their CIFAR-10
setting; log 0 clamped to A = -4 as in the paper) in place of cross-entropy, on the ``fixed``
schedule (last step kept), for the same reason as ``gce``."""

from functools import partial

from monorobust.evaluate.protocols.base import ProbeProtocol, register
from monorobust.objectives import symmetric_cross_entropy

ALPHA, BETA, LOG_ZERO = 0.1, 1.0, -4.0


@register
class SCE(ProbeProtocol):
    name = "sce"
    description = "symmetric cross-entropy (alpha 0.1, beta 1, A = -4) on the fixed schedule"
    loss = f"symmetric cross-entropy, alpha = {ALPHA}, beta = {BETA}, A = {LOG_ZERO}"
    selection = "last step"
    uses_validation = False
    select = "last"
    loss_fn = partial(symmetric_cross_entropy, alpha=ALPHA, beta=BETA, log_zero=LOG_ZERO)
