"""PyTorch operators one pretraining step of a preset dispatches, part by part.

    python benchmarks/count_ops.py                      # the cifar100 preset's step (ResNet-18)
    python benchmarks/count_ops.py --preset quick

In eager mode each operator costs the host a few microseconds whatever its size, so on a fast
GPU a step of many small operators is bound by their number (docs/scale.md, "Launch overhead").
The count depends on the layers, not on their width or the batch, so the step is built at a tiny
width and batch on the CPU; the GPU check (``gpu_check.py``) counts the full-size step on the
device and multiplies by the measured time of one operator there.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from roofline import count_ops


def main() -> None:
    from lightning_fabric import Fabric

    from monorobust.config import load_config
    from monorobust.train import build_model
    from monorobust.train.augment import simclr_views
    from monorobust.train.batches import augment_generator
    from monorobust.train.optim import OPTIMIZERS
    from monorobust.train.precision import resolve_precision
    from monorobust.train.pretrain import contrastive_loss

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="cifar100")
    args = p.parse_args()
    cfg = load_config(args.preset)
    pcfg = replace(cfg.pretrain, width=min(cfg.pretrain.width, 4), proj_hidden=32, proj_dim=16,
                   batch_size=8, compile=False)
    shape = (3, 16, 16) if pcfg.encoder == "resnet18" else (1, 28, 28)
    images = torch.randint(0, 256, (pcfg.batch_size, *shape), dtype=torch.uint8)
    model = build_model(pcfg, shape, [0.5] * shape[0], [0.25] * shape[0], 0)
    model = model.to(memory_format=torch.channels_last if pcfg.channels_last
                     else torch.preserve_format)
    precision = resolve_precision(pcfg.precision, "cpu").precision
    fabric = Fabric(accelerator="cpu", devices=1, precision=precision)
    optimizer = OPTIMIZERS.get(pcfg.optimizer)(model.parameters(), pcfg.lr, pcfg.weight_decay)
    fmodel, foptimizer = fabric.setup(model, optimizer)
    gen = augment_generator(0, 0, 0, torch.device("cpu"))

    def forward():
        return contrastive_loss(fmodel, images.float().div_(255), pcfg, "cl", gen)

    for _ in range(2):                            # optimiser state made, kernels chosen
        loss = forward()
        foptimizer.zero_grad(set_to_none=True)
        fabric.backward(loss)
        foptimizer.step()
    parts: dict[str, int] = {}
    for one_pass in (False, True):
        parts[f"augmentation, both views ({'one pass' if one_pass else 'a pass each'})"] = \
            count_ops(lambda: simclr_views(images.float().div_(255), pcfg.augment, gen,
                                           one_pass=one_pass))
    holder = {}
    parts["forward: augmentation, model x 2, loss"] = count_ops(
        lambda: holder.update(loss=forward()))
    parts["backward"] = count_ops(lambda: fabric.backward(holder["loss"]))
    parts[f"optimiser ({pcfg.optimizer}, {len(list(model.parameters()))} tensors)"] = count_ops(
        foptimizer.step)
    print(f"{args.preset}: {pcfg.encoder}, {precision}, one step, operators dispatched")
    for name, n in parts.items():
        print(f"  {name:<42} {n:6d}")
    total = sum(n for name, n in parts.items() if not name.startswith("augmentation"))
    print(f"  {'step (forward + backward + optimiser)':<42} {total:6d}  "
          "(views: a pass each, as on a CPU)")


if __name__ == "__main__":
    main()
