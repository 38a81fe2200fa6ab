"""Configuration of the TopK sparse autoencoder (its training included)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

from monorobust.errors import ConfigError
from monorobust.fields import AT_LEAST_1, NON_NEGATIVE, POSITIVE, check_fields


@dataclass(frozen=True)
class SAEConfig:
    SECTION: ClassVar[str] = "sae"
    """Where this config sits in the run config: errors name keys as SECTION.field."""

    width: Annotated[int, AT_LEAST_1] | None = None
    """Dictionary size (number of latents); null: the input width, as the paper does (2048 =
    its projector width, not overcomplete). quick: 512."""
    k: Annotated[int, AT_LEAST_1] | None = None
    """Latents kept per sample by TopK; null: width // 8, the paper's ratio (256 of 2048).
    quick: 64 of 512."""
    lr: Annotated[float, POSITIVE] = 4e-3
    """Adam learning rate (constant after a short linear warmup). On the quick preset's CL
    features (256 wide, 260 steps) FVU is flat from 4e-3 to 1.6e-2 and best at 8e-3 (the
    preset's); docs/sae.md has the sweep. Lower it for wide dictionaries and long runs."""
    batch_size: Annotated[int, AT_LEAST_1] = 1024
    """Samples per step."""
    epochs: Annotated[int, AT_LEAST_1] = 2
    """Passes over the training features (ignored when ``steps`` is set)."""
    steps: Annotated[int, AT_LEAST_1] | None = None
    """Optimiser steps; null: ``epochs`` passes over the data."""
    warmup_steps: Annotated[int, NON_NEGATIVE] = 20
    """Linear learning-rate warmup, in steps."""
    aux_k: Annotated[int, AT_LEAST_1] | None = None
    """Dead latents that the AuxK loss lets reconstruct the residual (openai: d_model / 2);
    null: no AuxK loss."""
    aux_weight: Annotated[float, NON_NEGATIVE] = 1 / 32
    """Weight of the AuxK loss (openai: 1/32)."""
    dead_threshold: Annotated[int, AT_LEAST_1] = 100_000
    """A latent that has not fired on this many consecutive training samples counts as dead
    (openai: 10M tokens at LLM scale; scaled down to the size of image data sets)."""
    normalize_input: bool = True
    """L2-normalise every input vector before encoding, as the authors do with CL features."""

    def __post_init__(self) -> None:
        check_fields(self)
        if self.k is not None and self.width is not None and self.k > self.width:
            raise ConfigError(f"sae.k ({self.k}) must not exceed sae.width ({self.width}); "
                              "lower k or widen the dictionary")

    def training_bytes(self, d_in: int, n: int) -> int:
        """A lower bound on the memory that training on ``n`` inputs of width ``d_in`` takes:
        the inputs, the encoder and decoder (d_in x width each, fp32), their gradients and
        Adam's two moments (activations and temporaries come on top)."""
        width, _ = self.resolve(d_in)
        return 4 * (n * d_in + 4 * (2 * d_in * width + width + d_in))

    def check_fits(self, d_in: int, n: int, device_type: str, what: str) -> None:
        """ConfigError, before any work, where ``training_bytes`` exceeds the total memory of
        the device the SAE trains on (a typo such as sae.width=2048000 would otherwise run out
        of memory, in ``monorobust run`` after the pretraining)."""
        from monorobust.checks import check_memory_need

        width, _ = self.resolve(d_in)
        check_memory_need(self.training_bytes(d_in, n), device_type,
                          f"the SAE of {what} (sae.width {width}, on {n:,} training feature "
                          f"vectors of width {d_in})",
                          "to train (the features, its weights, their gradients and Adam's "
                          "moments in fp32)",
                          f"lower sae.width (null: the features' width, {d_in})")

    def resolve(self, d_in: int) -> tuple[int, int]:
        """``(width, k)`` for inputs of width ``d_in`` (filling in the null defaults)."""
        width = self.width or d_in
        k = self.k or max(1, width // 8)
        if k > width:
            raise ConfigError(f"sae.k ({k}) exceeds the dictionary width ({width}); lower k")
        return width, k
