"""Pretraining configuration (SimCLR / NCL)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, ClassVar

from monorobust.errors import ConfigError
from monorobust.fields import AT_LEAST_1, NON_NEGATIVE, POSITIVE, Range, check_fields
from monorobust.train.augment import AugmentConfig
from monorobust.train.precision import PRECISIONS


# torch.compile's modes (torch._inductor.list_mode_options()).
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")
"""The modes that replay CUDA graphs."""


@dataclass(frozen=True)
class PretrainConfig:
    SECTION: ClassVar[str] = "pretrain"
    """Where this config sits in the run config: errors name keys as SECTION.field."""

    encoder: str = "mlp"
    """Encoder name from ``monorobust.models.ENCODERS`` (mlp, conv, resnet18), or
    ``hf:<local folder or Hub id>``: a frozen pretrained Hugging Face vision model (ViT, DINOv2,
    CLIP, ResNet, ConvNeXt; ``monorobust.models.hf``) for the ``frozen*`` representations, which
    train nothing but their heads (with this section's projector widths and optimiser)."""
    width: Annotated[int, AT_LEAST_1] = 1024
    """Encoder width: hidden units (mlp), first-layer channels (conv: 32, resnet18: 64)."""
    proj_hidden: Annotated[int, AT_LEAST_1] = 2048
    """Projector hidden width (paper: 16384)."""
    proj_dim: Annotated[int, AT_LEAST_1] = 512
    """Projector output width, the probed feature dimension (paper: 2048)."""
    proj_batchnorm: bool = False
    """BatchNorm in the projector's hidden layer (the paper's description has none)."""
    epochs: Annotated[int, AT_LEAST_1] = 20
    """Pretraining epochs."""
    batch_size: Annotated[int, Range(ge=2)] = 512
    """Images per step and process (each seen as two views); at least 2: NT-Xent needs other
    images as negatives, and BatchNorm more than one value per channel."""
    optimizer: str = "adamw"
    """Optimiser name: adamw, sgd, lars."""
    lr: Annotated[float, POSITIVE] = 1e-3
    """Peak learning rate (after warmup)."""
    weight_decay: Annotated[float, NON_NEGATIVE] = 1e-5
    """Weight decay."""
    warmup_epochs: Annotated[float, NON_NEGATIVE] = 1.0
    """Linear warmup length in epochs, then cosine decay to zero."""
    temperature: Annotated[float, POSITIVE] = 0.2
    """NT-Xent temperature (paper: 0.2)."""
    ncl_activity_weight: Annotated[float, NON_NEGATIVE] = 0.0
    """Weight of the authors' optional NCL term -mean_d mean_i |z_id| against dead dimensions
    (their code: 1.0; 0 turns it off). Applies to NCL only."""
    precision: str = "32-true"
    """Lightning Fabric precision: 32-true, bf16-mixed, 16-mixed; or auto: bf16-mixed where the
    CPU (AVX512-BF16 / AMX) or GPU multiplies bf16 natively, 32-true elsewhere (run.json records
    what it resolved to; ``monorobust.train.precision``). The loss is fp32 under each."""
    processes: Annotated[int, AT_LEAST_1] = 1
    """``monorobust run`` (and ``pretrain``, ``finetune``) on the CPU in one process: how many
    pretrainings (a seed's cl and ncl, the next seed's) train at once, each in a worker process
    on the run's CPU threads divided by this (``monorobust.train.parallel``). A third of a small
    model's step is single-threaded Python and dispatch, so 2 on 2 cores train 1.3x the images
    per second of one pretraining on both.
    Every pretraining runs on that many threads, whatever else is pending, so a resumed run
    repeats an uninterrupted one; since the thread count changes float rounding, checkpoints
    refuse another value. GPUs and runs of several processes pretrain one at a time (run.json
    says which applied)."""
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    """SimCLR augmentations."""
    keep_checkpoints: Annotated[int, AT_LEAST_1] = 2
    """How many of the latest per-epoch checkpoints to keep on disk."""
    sync_batchnorm: bool = False
    """Under DDP (more than one process), turn every BatchNorm into SyncBatchNorm so that batch
    statistics cover the global batch (needs CUDA devices; a no-op in one process)."""
    channels_last: bool = False
    """Keep conv weights and inputs in channels-last memory layout (faster convolutions on
    GPUs with tensor cores; leave off for the mlp encoder)."""
    compile: bool = False
    """Wrap the model in ``torch.compile`` (slow first steps, faster later ones; GPU runs)."""
    compile_mode: str = "default"
    """``torch.compile``'s mode where ``compile`` is on: "default" (fused kernels);
    "reduce-overhead" (also CUDA graphs: each forward and backward of the model is one launch,
    so the host no longer limits a small-image step; docs/scale.md has the measurements);
    "max-autotune" or "max-autotune-no-cudagraphs" (minutes of kernel tuning first). The two
    CUDA-graph modes apply to one CUDA process only: on a CPU, or across several processes,
    the model trains eagerly (``train.pretrain.compiled``). Speed only: a run may resume under
    another mode."""
    compile_optimizer: bool = False
    """Run LARS's update through ``torch.compile`` (``LARS.compile_update``): its trust ratios,
    momentum and step fused into a few kernels instead of six multi-tensor calls that pass over
    the weights' memory about 15 times, two of them a kernel per tensor. Optimizer lars only;
    a few seconds of compiling first. 3.3-3.9x the eager update on a 2-core CPU at the cifar100
    model's size; not yet measured on a GPU, so no preset turns it on (``benchmarks/gpu_next.sh``
    measures it). Speed only: a run may resume with it on or off."""
    compile_augment: bool = False
    """Where ``compile`` compiles the model, compile the SimCLR augmentation's transforms too
    (crop, jitter, grayscale, blur; not their random draws), in ``compile_mode``
    (``augment.compiled_apply_view``): a few fused kernels instead of about 130 operators a
    step, under a CUDA-graph mode one more replay. Needs ``compile``. The views equal the eager
    ones up to rounding; not yet measured on a GPU, so no preset turns it on
    (``benchmarks/gpu_next.sh`` measures it). Speed only: a run may resume with it on or off."""
    cudnn_benchmark: bool = False
    """Let cuDNN time its convolution algorithms on the first steps of each shape and keep the
    fastest (``torch.backends.cudnn.benchmark``, on for this pretraining only). The presets'
    shapes are fixed, so each is timed once; under CUDA graphs that should happen in the
    warm-up steps before a graph is captured (a CUDA test trains with it there). The numbers
    change only by rounding, though two runs may choose different algorithms (GPU runs are not
    bit-reproducible anyway). Nothing changes on a CPU. In an eager GPU step the host's
    launches hide what it gives; under CUDA graphs the device's time is the step, and the
    convolutions were the largest kind of the eager step's kernel time. Not yet measured there,
    so no preset turns it on (``benchmarks/gpu_next.sh`` measures it). Speed only: a run may
    resume with it on or off."""
    loader_workers: Annotated[int, NON_NEGATIVE] = 4
    """DataLoader worker processes decoding images when the training set streams from disk
    (image folders such as imagenet100); 0 decodes in the main process. In-memory datasets
    (tensors) never use a DataLoader: they sit on the device and are indexed there."""
    logger: str = "csv"
    """Per-step curves (loss, learning rate, images/s) of each pretraining: "csv" writes
    ``checkpoints/OBJECTIVE-seedS/logs/version_K/metrics.csv``; "tensorboard" writes TensorBoard
    event files there too (needs ``pip install tensorboard``). ``monorobust.train.logs``."""

    def __post_init__(self) -> None:
        from monorobust.models import ENCODERS
        from monorobust.train.optim import OPTIMIZERS

        check_fields(self)
        if self.encoder.startswith("hf:"):      # validated here, before any work
            from monorobust.models.hf import check_backbone

            check_backbone(self.encoder)
        else:
            ENCODERS.get(self.encoder)
        OPTIMIZERS.get(self.optimizer)
        from monorobust.train.logs import check_logger

        check_logger(self.logger)
        if self.compile_mode not in COMPILE_MODES:
            raise ConfigError(f"pretrain.compile_mode {self.compile_mode!r} must be one of "
                              f"{', '.join(COMPILE_MODES)}")
        if self.compile_optimizer and self.optimizer != "lars":
            raise ConfigError(f"pretrain.compile_optimizer compiles LARS's update, but "
                              f"pretrain.optimizer is {self.optimizer!r}: set "
                              "pretrain.optimizer=lars, or pretrain.compile_optimizer=false")
        if self.compile_augment and not self.compile:
            raise ConfigError("pretrain.compile_augment compiles the augmentation with the "
                              "model, in pretrain.compile_mode, but pretrain.compile is off: "
                              "set pretrain.compile=true, or pretrain.compile_augment=false")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"pretrain.precision {self.precision!r} must be one of "
                              f"{', '.join(PRECISIONS)}")
