"""One way to derive a seed from several keys: ``derive_seed(seed, "label_noise", 0.4)``.

Every generator that is not seeded by the user's seed itself takes ``derive_seed(*keys)``: the
run's seed first, then whatever names the draw (an epoch, a process rank, a scenario and its
severity, a purpose such as "batch-order"). The keys go through NumPy's ``SeedSequence``, the
tool made for this: well-mixed, no collisions between nearby keys (``seed + 10_000`` collides
with seed 10 000), and independent of Python's per-process string hashing.

Integers enter as they are (so ``derive_seed(seed, epoch)`` is the pretraining order's seed of
every earlier version); text and floats enter as a 64-bit digest of their text (floats written
with ``:g``, so 0.4 and 0.40 are one key, and 5.0 is "5").

Nothing here imports from monorobust: every layer may use it.
"""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(*keys: int | float | str) -> int:
    """A seed in [0, 2**63) that depends only on ``keys`` (order matters)."""
    if not keys:
        raise ValueError("derive_seed needs at least one key")
    entropy = [_entropy(k) for k in keys]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> 1)


def _entropy(key: int | float | str) -> int:
    if isinstance(key, bool) or not isinstance(key, (int, float, str)):
        raise TypeError(f"derive_seed keys are ints, floats or strings, got {key!r}")
    if isinstance(key, int) and key >= 0:
        return key
    text = f"{key:g}" if isinstance(key, float) else str(key)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
