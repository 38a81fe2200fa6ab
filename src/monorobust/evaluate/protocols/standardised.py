"""``standardised``: features z-scored with the training split's statistics, then ``fixed``.

Many papers (and sklearn pipelines) standardise features before a linear probe; it changes the
geometry the probe's optimiser sees (every dimension gets unit variance, so rare, sparse
monosemantic dimensions are scaled up) and makes the probe blind to the features' overall scale.
The mean and standard deviation come from the training split only (the probe's training
subset); a constant dimension keeps standard deviation 1 (it is 0 after centring either way).

The z-scoring is affine, so it is folded into the returned probe: with z = (x - mu) / sigma,
``W z + b = (W / sigma) x + (b - (W / sigma) mu)``, and the probe scores raw features directly.
"""

from dataclasses import replace

import torch

from monorobust.checks import check_features
from monorobust.evaluate.batched import train_probes
from monorobust.evaluate.probe import Probe
from monorobust.evaluate.protocols.base import ProbeProtocol, ProtocolFit, n_probes, register


def zscore_stats(train_x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(D,) mean and standard deviation of ``train_x`` (N, D); 1 where a dimension is constant."""
    x = train_x.double()                  # float64: scaling every feature by 100 changes nothing
    mu, sigma = x.mean(0), x.std(0, unbiased=False)
    sigma = torch.where(sigma > 0, sigma, torch.ones_like(sigma))
    return mu, sigma


def fold(probe: Probe, mu: torch.Tensor, sigma: torch.Tensor) -> Probe:
    """The probe trained on (x - mu) / sigma, rewritten to act on x."""
    w = probe.weight.double() / sigma
    b = probe.bias.double() - w @ mu
    return probe._replace(weight=w.float(), bias=b.float())


@register
class Standardised(ProbeProtocol):
    name = "standardised"
    description = "features z-scored with training statistics, then the fixed schedule"
    selection = "last step"
    preprocessing = "z-score per dimension (training-split mean and standard deviation)"
    uses_validation = False

    def fit(self, train_x, train_y, val_x, val_y, num_classes, cfg, seed):
        train_x = check_features(train_x, "train_x")
        mu, sigma = zscore_stats(train_x)
        z = lambda x: ((check_features(x, "val_x").double() - mu) / sigma).float()  # noqa: E731
        probes = train_probes(z(train_x), train_y, z(val_x), val_y, num_classes,
                              replace(cfg, select="last"), seed)
        return ProtocolFit([fold(p, mu, sigma) for p in probes], [0.0] * n_probes(train_y))
