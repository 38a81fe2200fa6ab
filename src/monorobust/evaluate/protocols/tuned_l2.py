"""``tuned-l2``: an L2 penalty whose strength the validation split chooses.

The reviewers' question, and Kantamneni et al.'s (ICML 2025) finding that tuned baselines erase
SAE probe gains: would a well-tuned L2 penalty give the polysemantic features the robustness the
monosemantic ones have? Every strength of ``GRID`` (1e-6 .. 1e-1) is trained on the ``fixed``
schedule (last step kept) with ``l2 / 2 * ||W||^2`` added to the mean loss (coupled, the textbook
L2-regularised logistic regression: sklearn's C = 1 / (l2 N); the optimiser's own weight decay is
left as the base config has it), and each label vector keeps the strength with the best
validation accuracy (the smallest on ties). All K x 6 probes train in one batch.
"""

from dataclasses import replace

import torch

from monorobust.evaluate.batched import train_probes
from monorobust.evaluate.protocols.base import ProbeProtocol, ProtocolFit, n_probes, register

GRID = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


@register
class TunedL2(ProbeProtocol):
    name = "tuned-l2"
    description = "L2 penalty chosen on validation from 1e-6..1e-1, fixed schedule, last step"
    loss = "cross-entropy + l2 / 2 ||W||^2"
    selection = "L2 strength with the best validation accuracy (last step of each)"
    uses_validation = True

    def fit(self, train_x, train_y, val_x, val_y, num_classes, cfg, seed):
        k, g = n_probes(train_y), len(GRID)
        ys = train_y.reshape(k, -1).repeat_interleave(g, 0)                 # (K*G, N)
        vys = val_y.reshape(-1, val_y.shape[-1])
        vys = vys.repeat_interleave(g, 0) if vys.shape[0] == k else vys
        l2 = torch.tensor(GRID).repeat(k)                                   # (K*G,)
        probes = train_probes(train_x, ys, val_x, vys, num_classes, replace(cfg, select="last"),
                              seed, l2=l2)
        acc = torch.tensor([p.val_accuracy for p in probes]).view(k, g)
        # argmax of the first maximum: the smallest strength among equally good ones
        pick = (acc == acc.max(1, keepdim=True).values).float().argmax(1)
        chosen = [i * g + int(pick[i]) for i in range(k)]
        return ProtocolFit([probes[j] for j in chosen], [GRID[int(pick[i])] for i in range(k)])
