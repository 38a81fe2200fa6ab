"""Encoders (registered by name), the projector and the contrastive model."""

from monorobust.models import conv, mlp, resnet18  # noqa: F401  (register the encoders)
from monorobust.models.base import ENCODERS, ContrastiveModel, Normalize, build_encoder, projector

__all__ = ["ENCODERS", "ContrastiveModel", "Normalize", "build_encoder", "projector"]
