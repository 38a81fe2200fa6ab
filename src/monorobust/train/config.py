"""Pretraining configuration (SimCLR / NCL)."""

from __future__ import annotations

from dataclasses import dataclass, field

from monorobust.errors import ConfigError
from monorobust.train.augment import AugmentConfig


@dataclass(frozen=True)
class PretrainConfig:
    encoder: str = "mlp"
    """Encoder name from ``monorobust.models.ENCODERS`` (mlp, conv, resnet18)."""
    width: int = 1024
    """Encoder width: hidden units (mlp), first-layer channels (conv: 32, resnet18: 64)."""
    proj_hidden: int = 2048
    """Projector hidden width (paper: 16384)."""
    proj_dim: int = 512
    """Projector output width, the probed feature dimension (paper: 2048)."""
    proj_batchnorm: bool = False
    """BatchNorm in the projector's hidden layer (the paper's description has none)."""
    epochs: int = 20
    """Pretraining epochs."""
    batch_size: int = 512
    """Images per step (each seen as two views)."""
    optimizer: str = "adamw"
    """Optimiser name: adamw, sgd, lars."""
    lr: float = 1e-3
    """Peak learning rate (after warmup)."""
    weight_decay: float = 1e-5
    """Weight decay."""
    warmup_epochs: float = 1.0
    """Linear warmup length in epochs, then cosine decay to zero."""
    temperature: float = 0.2
    """NT-Xent temperature (paper: 0.2)."""
    ncl_activity_weight: float = 0.0
    """Weight of the authors' optional NCL term -mean_d mean_i |z_id| against dead dimensions
    (their code: 1.0; 0 turns it off). Applies to NCL only."""
    precision: str = "32-true"
    """Lightning Fabric precision: 32-true, bf16-mixed, 16-mixed."""
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    """SimCLR augmentations."""
    keep_checkpoints: int = 2
    """How many of the latest per-epoch checkpoints to keep on disk."""
    sync_batchnorm: bool = False
    """Under DDP (more than one process), turn every BatchNorm into SyncBatchNorm so that batch
    statistics cover the global batch (needs CUDA devices; a no-op in one process)."""
    channels_last: bool = False
    """Keep conv weights and inputs in channels-last memory layout (faster convolutions on
    GPUs with tensor cores; leave off for the mlp encoder)."""
    compile: bool = False
    """Wrap the model in ``torch.compile`` (slow first steps, faster later ones; GPU runs)."""
    loader_workers: int = 4
    """DataLoader worker processes decoding images when the training set streams from disk
    (image folders such as imagenet100); 0 decodes in the main process. In-memory datasets
    (tensors) never use a DataLoader: they sit on the device and are indexed there."""

    def __post_init__(self) -> None:
        from monorobust.models import ENCODERS
        from monorobust.train.optim import OPTIMIZERS

        ENCODERS.get(self.encoder)
        OPTIMIZERS.get(self.optimizer)
        for name in ("width", "proj_hidden", "proj_dim", "epochs", "batch_size", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ConfigError(f"pretrain.{name} must be >= 1, got {getattr(self, name)}")
        if self.loader_workers < 0:
            raise ConfigError(f"pretrain.loader_workers must be >= 0, got {self.loader_workers}")
        if self.lr <= 0 or self.temperature <= 0:
            raise ConfigError("pretrain.lr and pretrain.temperature must be > 0")
        if self.precision not in ("32-true", "32", "bf16-mixed", "16-mixed", "bf16-true"):
            raise ConfigError(f"pretrain.precision {self.precision!r} must be one of 32-true, "
                              "bf16-mixed, 16-mixed, bf16-true")
