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

from roofline import count_ops, pretrain_step


def main() -> None:
    from monorobust.config import load_config
    from monorobust.train.augment import simclr_views

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="cifar100")
    args = p.parse_args()
    cfg = load_config(args.preset).pretrain
    cfg = replace(cfg, width=min(cfg.width, 4), proj_hidden=32, proj_dim=16, batch_size=8,
                  compile=False)
    shape = (3, 16, 16) if cfg.encoder == "resnet18" else (1, 28, 28)
    step = pretrain_step(cfg, shape, "cpu")
    for _ in range(2):                            # optimiser state made, kernels chosen
        step.step()
    parts: dict[str, int] = {}
    for one_pass in (False, True):
        parts[f"augmentation, both views ({'one pass' if one_pass else 'a pass each'})"] = \
            count_ops(lambda: simclr_views(step.batch, cfg.augment, step.gen, one_pass=one_pass))
    holder = {}
    parts["forward: augmentation, model x 2, loss"] = count_ops(
        lambda: holder.update(loss=step.forward()))
    parts["backward"] = count_ops(lambda: step.backward(holder["loss"]))
    parts[f"optimiser ({cfg.optimizer})"] = count_ops(step.update)
    print(f"{args.preset}: {cfg.encoder}, {step.precision}, one step, operators dispatched")
    for name, n in parts.items():
        print(f"  {name:<42} {n:6d}")
    total = sum(n for name, n in parts.items() if not name.startswith("augmentation"))
    print(f"  {'step (forward + backward + optimiser)':<42} {total:6d}  "
          "(views: a pass each, as on a CPU)")


if __name__ == "__main__":
    main()
