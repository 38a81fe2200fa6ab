"""Loss functions only: pure functions of tensors, shapes in the docstrings."""

from monorobust.objectives.ntxent import activity_penalty, embed, nt_xent

__all__ = ["activity_penalty", "embed", "nt_xent"]
