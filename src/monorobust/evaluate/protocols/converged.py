"""``converged``: trained until the training loss stops improving, no early stopping.

The memorising extreme: the base config's optimiser at its constant learning rate (no decay),
minibatches as the base config has them, and no validation at all. The training loss is summed
over windows of at least one epoch (and ``eval_every`` steps); a probe has converged when a
window improves on the previous one by less than ``TOL`` (0.1%) of it, but not before the base
schedule's ``steps``, and at the latest after ``MAX_FACTOR`` times them. Each probe keeps its
weights of the window it converged at, so probes trained together equal probes trained alone.
"""

from monorobust.evaluate.batched import Converge, train_probes
from monorobust.evaluate.protocols.base import ProbeProtocol, ProtocolFit, n_probes, register

TOL, MAX_FACTOR = 1e-3, 20


@register
class Converged(ProbeProtocol):
    name = "converged"
    description = "constant lr until the training loss stops improving (< 0.1% per epoch)"
    selection = "the step the training loss converged at (no validation)"
    uses_validation = False

    def fit(self, train_x, train_y, val_x, val_y, num_classes, cfg, seed):
        rule = Converge(tol=TOL, min_steps=cfg.steps, max_steps=MAX_FACTOR * cfg.steps)
        probes = train_probes(train_x, train_y, val_x, val_y, num_classes, cfg, seed,
                              until_converged=rule)
        return ProtocolFit(probes, [0.0] * n_probes(train_y))
