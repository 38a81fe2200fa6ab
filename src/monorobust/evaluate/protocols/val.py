"""``val``: today's probe. Base optimiser and schedule; the step with the best validation
accuracy is kept (early stopping on the validation split, whose labels are as noisy as the
training labels)."""

from monorobust.evaluate.protocols.base import ProbeProtocol, register


@register
class Val(ProbeProtocol):
    name = "val"
    description = "the run's probe: cosine schedule, best validation step kept (early stopping)"
    selection = "step with the best validation accuracy"
    uses_validation = True
    select = "val"
