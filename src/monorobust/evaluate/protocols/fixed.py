"""``fixed``: the authors' fixed schedule. The base config's optimiser and learning rate, cosine
decay over its steps, and the *last* step kept: nothing is selected on validation, so the probe
memorises noisy labels as far as the schedule lets it (the way the authors' solo-learn code and
many papers train linear probes)."""

from monorobust.evaluate.protocols.base import ProbeProtocol, register


@register
class Fixed(ProbeProtocol):
    name = "fixed"
    description = "fixed schedule (optimiser and lr of the run's probe), last step kept"
    selection = "last step"
    uses_validation = False
    select = "last"
