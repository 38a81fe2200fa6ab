"""Contrastive pretraining on Lightning Fabric, with per-epoch checkpoints and resume."""

from monorobust.train.config import PretrainConfig
from monorobust.train.pretrain import OBJECTIVES, PretrainResult, build_model, load_pretrained, pretrain

__all__ = ["OBJECTIVES", "PretrainConfig", "PretrainResult", "build_model", "load_pretrained", "pretrain"]
