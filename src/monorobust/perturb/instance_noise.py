"""Instance-dependent label noise: the samples hardest for a reference classifier are mislabelled,
each towards the class it is most easily confused with.

Recipe: Chen, Ye, Chen, Zhao & Heng, "Beyond Class-Conditional Assumption: A Primary Attempt to
Combat Instance-Dependent Label Noise", AAAI 2021 (arXiv 2012.05458; their
``mnist_gen_dependent.py``), followed step by step:

1. train a reference classifier on the *clean* labels and record its softmax on every training
   sample after each epoch; average these over the epochs (``reference_probs``);
2. a sample's mislabelling score is its largest averaged probability of a class other than its
   own, and that class is its candidate noisy label;
3. the ``round(rate * N)`` samples with the highest score get their candidate label.

So the realised rate is exactly ``round(rate * N) / N`` and the noise is deterministic given the
reference probabilities; the generator only orders exact ties in the score (and the reference
classifier's minibatches). Chen et al. train a CNN on the images; ``reference_probs`` trains a
linear softmax classifier on whatever (N, D) features it is given, e.g. the flattened pixels.
To compare representations fairly, give them all the *same* reference probabilities (from the
pixels, not from each representation's own features): otherwise each is attacked on the
samples it finds hard and the noise differs between the sides of a comparison.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from monorobust.checks import check_features, check_labels
from monorobust.errors import ConfigError
from monorobust.perturb.label_noise import NoisyLabels
from monorobust.perturb.pairflip import check_single_target_rate


def check_probs(probs: torch.Tensor, n: int, num_classes: int) -> torch.Tensor:
    """(N, C) finite non-negative reference probabilities, or ``ConfigError`` naming ``probs``."""
    if not isinstance(probs, torch.Tensor) or probs.ndim != 2 or probs.shape != (n, num_classes):
        got = tuple(probs.shape) if isinstance(probs, torch.Tensor) else type(probs).__name__
        raise ConfigError(f"probs must be the reference classifier's (N, C) = ({n}, {num_classes}) "
                          f"probabilities, one row per label; got {got}")
    probs = check_features(probs, "probs")
    if (probs < 0).any():
        raise ConfigError("probs must be probabilities (>= 0); pass softmax outputs, not logits")
    return probs


def instance_label_noise(labels: torch.Tensor, rate: float, num_classes: int,
                         generator: torch.Generator, probs: torch.Tensor) -> NoisyLabels:
    """Flip exactly ``round(rate * N)`` labels: those a reference classifier finds hardest.

    Args:
        labels: (N,) int64 true labels in [0, num_classes).
        rate: share of labels to change, in [0, 1/2) (each flip goes to one class, as in
            pair-flip noise; Chen et al. use up to 0.45).
        num_classes: C >= 2.
        generator: breaks exact ties in the score at random (nothing else is random here).
        probs: (N, C) the reference classifier's epoch-averaged softmax on these samples
            (``reference_probs``).

    Returns:
        ``NoisyLabels``; a flipped label is ``argmax_{j != y} probs[i, j]``.
    """
    check_single_target_rate(rate, num_classes)
    labels = check_labels(labels, "labels", num_classes)
    n = labels.shape[0]
    probs = check_probs(probs, n, num_classes).clone()
    probs[torch.arange(n), labels] = -1.0             # the true class is never a candidate
    score, candidate = probs.max(1)
    # Random order first, then a stable sort: exact ties fall in a seeded random order.
    shuffle = torch.randperm(n, generator=generator)
    order = shuffle[torch.sort(score[shuffle], descending=True, stable=True).indices]
    chosen = order[:int(round(rate * n))]
    noisy = labels.clone()
    noisy[chosen] = candidate[chosen]
    flipped = torch.zeros(n, dtype=torch.bool)
    flipped[chosen] = True
    return NoisyLabels(noisy, flipped)


def reference_probs(features: torch.Tensor, labels: torch.Tensor, num_classes: int,
                    generator: torch.Generator, epochs: int = 20, batch_size: int = 128,
                    lr: float = 0.05, momentum: float = 0.5,
                    score_features: torch.Tensor | None = None) -> torch.Tensor:
    """Step 1 of Chen et al.: a classifier trained on clean labels, softmax averaged over epochs.

    A linear softmax classifier on z-scored ``features`` (N, D), trained with SGD (momentum 0.5,
    as in Chen et al.) for ``epochs`` epochs of shuffled minibatches; after each epoch its
    softmax on all N samples is recorded. Averaging over the trajectory ranks samples by how
    long they stay hard, not by one final fit that may have memorised them.

    ``score_features`` (M, D): record the probabilities on these samples instead (e.g. the
    validation split, whose labels get the same kind of noise: the classifier trained on the
    training split's clean labels scores them, z-scored with the training statistics).

    Returns:
        (N, C) float32 probabilities (rows sum to 1); (M, C) with ``score_features``.
    """
    x = check_features(features, "features")
    y = check_labels(labels, "labels", num_classes, n=x.shape[0])
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise ConfigError(f"reference_probs needs epochs >= 1, batch_size >= 1 and lr > 0; got "
                          f"{epochs}, {batch_size}, {lr}")
    # z-scoring makes one learning rate work for pixels and for any representation's features.
    mu, sigma = x.mean(0), x.std(0).clamp_min(1e-6)
    x = (x - mu) / sigma
    scored = x
    if score_features is not None:
        scored = check_features(score_features, "score_features")
        if scored.shape[1] != x.shape[1]:
            raise ConfigError(f"score_features has {scored.shape[1]} features, features "
                              f"{x.shape[1]}; pass the same features of other samples")
        scored = (scored - mu) / sigma
    n, d = x.shape
    weight = torch.zeros(num_classes, d, requires_grad=True)
    bias = torch.zeros(num_classes, requires_grad=True)
    opt = torch.optim.SGD([weight, bias], lr=lr, momentum=momentum)
    total = torch.zeros(scored.shape[0], num_classes)
    for _ in range(epochs):
        for idx in torch.randperm(n, generator=generator).split(batch_size):
            loss = F.cross_entropy(x[idx] @ weight.T + bias, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            total += torch.softmax(scored @ weight.T + bias, 1)
    return total / epochs
