"""Loss functions only: pure functions of tensors, shapes in the docstrings."""

from monorobust.objectives.ntxent import activity_penalty, embed, nt_xent
from monorobust.objectives.robust import (
    cross_entropy, generalized_cross_entropy, reverse_cross_entropy, symmetric_cross_entropy,
)

__all__ = ["activity_penalty", "cross_entropy", "embed", "generalized_cross_entropy", "nt_xent",
           "reverse_cross_entropy", "symmetric_cross_entropy"]
