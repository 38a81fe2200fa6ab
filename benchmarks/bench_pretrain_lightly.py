"""Time one SimCLR epoch of monorobust and of lightly's SimCLR, in one run, on the same data.

Same encoder and projector (monorobust's, same initialisation), same batch, same optimiser,
same data (Fashion-MNIST's 60,000 training images). What differs is the pipeline:

- monorobust: ``train.pretrain`` as users run it: uint8 images on the device, SimCLR
  augmentations on whole batches there, its NT-Xent. (Timed to the end of the epoch's last
  step: the checkpoint written after it is not counted, as lightly's loop writes none.)
- lightly: its usual recipe: a torch Dataset of PIL images, ``SimCLRTransform`` (per-image
  torchvision transforms, the same SimCLR parameters: crop 0.08-1, jitter 0.8/0.8/0.8/0.2
  p 0.8, grayscale 0.2, blur 0.5, flip) in DataLoader workers, ``NTXentLoss``.

Prints images/s and the epoch-time ratio; on a GPU with ``--encoder resnet18``, also the share
of the GPU's dense bf16 peak that the model's counted FLOPs reach (``FlopCounterMode``).

Needs torchvision and lightly beside monorobust, e.g. in a separate venv:
    python3 -m venv /tmp/lightly-venv
    /tmp/lightly-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 lightly
    /tmp/lightly-venv/bin/pip install -e . lightning safetensors pyyaml tqdm scikit-learn pandas matplotlib
    /tmp/lightly-venv/bin/python benchmarks/bench_pretrain_lightly.py --encoder mlp
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time

import torch

from monorobust.data import load_dataset
from monorobust.objectives import embed, nt_xent
from monorobust.train import PretrainConfig, build_model, pretrain
from monorobust.train.augment import AugmentConfig
from monorobust.train.pretrain import channel_stats

# Dense (no sparsity) bf16 tensor-core peaks, TFLOP/s, from the vendors' data sheets.
BF16_PEAK_TFLOPS = {"H100 SXM": 989.4, "H100 80GB HBM3": 989.4, "H100 PCIe": 756.0, "H100 NVL": 835.0,
                    "H200": 989.4, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10G": 70.0,
                    "RTX 4090": 165.2}


def pretrain_config(encoder: str, batch_size: int | None, precision: str,
                    proj: tuple[int, int] | None = None) -> PretrainConfig:
    """quick preset's settings for mlp/conv, fmnist-resnet18's for resnet18; SimCLR augmentations."""
    import yaml

    from monorobust.config import build_dataclass, preset_path

    # Only the preset's pretrain section (the rest, e.g. corruptions, needs packages not used here).
    tree = yaml.safe_load(preset_path("fmnist-resnet18" if encoder == "resnet18" else "quick").read_text())
    base = build_dataclass(PretrainConfig, tree["pretrain"], "pretrain")
    width = {"mlp": 1024, "conv": 32, "resnet18": 64}[encoder]
    # Eager, as lightly runs: one epoch would mostly time compilation.
    return PretrainConfig(**{**base.__dict__, "encoder": encoder, "width": width, "epochs": 1,
                             "compile": False,
                             "warmup_epochs": 0.0, "batch_size": batch_size or base.batch_size,
                             "precision": precision, "augment": AugmentConfig(),
                             "channels_last": encoder != "mlp" and precision != "32-true",
                             "optimizer": "adamw", "lr": 1e-3,
                             **({"proj_hidden": proj[0], "proj_dim": proj[1]} if proj else {})})


def time_monorobust(images: torch.Tensor, cfg: PretrainConfig, device: str) -> float:
    from lightning_fabric import Fabric

    fabric = Fabric(accelerator=device, devices=1, precision=cfg.precision)
    steps = len(images) // cfg.batch_size
    with tempfile.TemporaryDirectory() as out:
        _sync(device)
        start = time.perf_counter()
        try:
            pretrain(images, cfg, "cl", 0, out, fabric, progress=False, stop_after_steps=steps)
        except InterruptedError:          # raised right after the epoch's last step
            pass
        _sync(device)
        return time.perf_counter() - start


class _PILImages(torch.utils.data.Dataset):
    """(PIL image, label) pairs, as torchvision's FashionMNIST gives them, through a transform."""

    def __init__(self, images: torch.Tensor, transform) -> None:
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        from PIL import Image

        img = self.images[i]
        pil = Image.fromarray(img[0].numpy(), mode="L") if img.shape[0] == 1 else \
            Image.fromarray(img.permute(1, 2, 0).numpy())
        return self.transform(pil), 0


def time_lightly(images: torch.Tensor, cfg: PretrainConfig, model: torch.nn.Module, device: str,
                 workers: int) -> float:
    from lightly.loss import NTXentLoss
    from lightly.transforms import SimCLRTransform

    # normalize=None: the model normalises its input itself (its first layer), as in ours.
    transform = SimCLRTransform(input_size=images.shape[-1], normalize=None)
    loader = torch.utils.data.DataLoader(
        _PILImages(images, transform), batch_size=cfg.batch_size, shuffle=True, drop_last=True,
        num_workers=workers, pin_memory=device == "cuda", persistent_workers=False)
    criterion = NTXentLoss(temperature=cfg.temperature)
    model = model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(cfg.precision)
    _sync(device)
    start = time.perf_counter()
    model.train()
    for (x0, x1), _ in loader:
        x0, x1 = x0.to(device, non_blocking=True), x1.to(device, non_blocking=True)
        with torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None):
            z0, z1 = model(x0), model(x1)
        loss = criterion(z0.float(), z1.float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync(device)
    return time.perf_counter() - start


def time_pipelines(images: torch.Tensor, cfg: PretrainConfig, device: str, workers: int,
                   lightly_too: bool) -> tuple[float, float | None]:
    """Seconds to produce the epoch's two augmented views, without the model, in each pipeline."""
    from monorobust.train.augment import simclr_views
    from monorobust.train.batches import augment_generator, epoch_order

    steps = len(images) // cfg.batch_size
    data, gen = images.to(device), augment_generator(0, 0, 0, torch.device(device))
    _sync(device)
    start = time.perf_counter()
    order = epoch_order(0, 0, len(images)).to(device)
    for s in range(steps):
        x = data[order[s * cfg.batch_size:(s + 1) * cfg.batch_size]].float().div_(255)
        simclr_views(x, cfg.augment, gen)                 # the two views, as pretraining makes them
    _sync(device)
    ours = time.perf_counter() - start
    if not lightly_too:
        return ours, None
    from lightly.transforms import SimCLRTransform

    loader = torch.utils.data.DataLoader(
        _PILImages(images, SimCLRTransform(input_size=images.shape[-1], normalize=None)),
        batch_size=cfg.batch_size, shuffle=True, drop_last=True, num_workers=workers)
    start = time.perf_counter()
    for (x0, x1), _ in loader:
        x0.to(device), x1.to(device)
    _sync(device)
    return ours, time.perf_counter() - start


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def step_flops(model: torch.nn.Module, cfg: PretrainConfig, shape, device: str) -> int:
    """FLOPs of one training step's model work: forward and backward of both views + loss."""
    from torch.utils.flop_counter import FlopCounterMode

    model = copy.deepcopy(model).to(device)
    x = torch.rand(cfg.batch_size, *shape, device=device)
    with FlopCounterMode(display=False) as counter:
        loss = nt_xent(embed(model(x), False), embed(model(x), False), cfg.temperature)
        loss.backward()
    return counter.get_total_flops()


def peak_tflops(name: str, override: float | None) -> float | None:
    if override:
        return override
    for key, value in BF16_PEAK_TFLOPS.items():
        if all(part in name for part in key.split()):
            return value
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--encoder", choices=["mlp", "conv", "resnet18"], default="mlp")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-size", type=int, help="default: the preset's (quick 512, resnet18 256)")
    p.add_argument("--images", type=int, help="use the first N training images (default: all 60k)")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1),
                   help="lightly's DataLoader workers (default: min(8, CPU cores))")
    p.add_argument("--precision", help="default: bf16-mixed on cuda, 32-true on cpu")
    p.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak, if not in the table")
    p.add_argument("--proj", type=int, nargs=2, metavar=("HIDDEN", "OUT"),
                   help="projector widths (default: the preset's, quick 2048 512)")
    p.add_argument("--skip-lightly", action="store_true")
    args = p.parse_args()

    precision = args.precision or ("bf16-mixed" if args.device == "cuda" else "32-true")
    images = load_dataset("fashion-mnist").train.images
    images = images[:args.images] if args.images else images
    cfg = pretrain_config(args.encoder, args.batch_size, precision, args.proj)
    steps = len(images) // cfg.batch_size
    n = steps * cfg.batch_size                  # images per epoch (the last partial batch is dropped)
    mean, std = channel_stats(images)
    model = build_model(cfg, tuple(images.shape[1:]), mean, std, seed=0)
    where = torch.cuda.get_device_name() if args.device == "cuda" else \
        f"CPU, {torch.get_num_threads()} threads, {os.cpu_count()} cores"
    print(f"SimCLR epoch, Fashion-MNIST {n} images, encoder {args.encoder} "
          f"(projector {cfg.proj_hidden}-{cfg.proj_dim}), batch {cfg.batch_size}, "
          f"{precision}, {where}; torch {torch.__version__}")

    ours = time_monorobust(images, cfg, args.device)
    print(f"monorobust: {ours:7.2f} s  {n / ours:9.0f} images/s")
    if not args.skip_lightly:
        import lightly

        theirs = time_lightly(images, cfg, copy.deepcopy(model), args.device, args.workers)
        print(f"lightly {lightly.__version__}: {theirs:7.2f} s  {n / theirs:9.0f} images/s "
              f"({args.workers} DataLoader workers)")
        print(f"ratio: monorobust epoch time / lightly epoch time = {ours / theirs:.2f}  "
              f"(monorobust is {theirs / ours:.2f}x as fast)")
    aug_ours, aug_theirs = time_pipelines(images, cfg, args.device, args.workers, not args.skip_lightly)
    print(f"augmentation alone (two views, no model): monorobust {n / aug_ours:9.0f} images/s"
          + (f", lightly {n / aug_theirs:9.0f} images/s" if aug_theirs else ""))
    if args.device == "cuda" or args.encoder == "resnet18":
        flops = step_flops(model, cfg, tuple(images.shape[1:]), args.device)
        achieved = flops * steps / ours / 1e12
        print(f"model FLOPs per step {flops / 1e9:.1f} GFLOP -> {achieved:.1f} TFLOP/s achieved")
        peak = peak_tflops(where, args.peak_tflops) if args.device == "cuda" else None
        if peak:
            print(f"share of the {where} dense bf16 peak ({peak:.0f} TFLOP/s): {achieved / peak:.1%}")


if __name__ == "__main__":
    main()
