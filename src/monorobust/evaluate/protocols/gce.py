"""``gce``: generalised cross-entropy (Zhang & Sabuncu 2018, q = 0.7, their default) in place of
cross-entropy, on the ``fixed`` schedule (last step kept). A robust loss is meant to resist
noisy labels *without* early stopping, so it replaces the loss of the protocol that has none:
the control for "is the monosemantic gain a regularisation any loss could give?"."""

from functools import partial

from monorobust.evaluate.protocols.base import ProbeProtocol, register
from monorobust.objectives import generalized_cross_entropy

Q = 0.7


@register
class GCE(ProbeProtocol):
    name = "gce"
    description = "generalised cross-entropy (q = 0.7) on the fixed schedule, last step kept"
    loss = f"generalised cross-entropy, q = {Q}"
    selection = "last step"
    uses_validation = False
    select, loss_fn = "last", partial(generalized_cross_entropy, q=Q)
