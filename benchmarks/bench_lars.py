"""LARS's step against PyTorch's own multi-tensor SGD with momentum, on a preset's parameters.

    python benchmarks/bench_lars.py                     # cifar100's ResNet-18 + projector, CPU
    python benchmarks/bench_lars.py --device cuda --width 64

LARS does what SGD does (momentum, update) plus two norms per weight tensor and the trust-ratio
scaling, so SGD (``foreach=True``) is the floor it is compared with; LARS is timed eager and
with its update compiled (``pretrain.compile_optimizer``, after warm-up steps that compile it). The tiny width (the
default, 8) shows the per-operator cost that dominates on a GPU (docs/scale.md, "Launch
overhead"); ``--width 64`` is the preset's model (53 M parameters), where memory traffic
dominates.
"""

from __future__ import annotations

import argparse
import time

import torch

from roofline import sync


def main() -> None:
    from monorobust.config import load_config
    from monorobust.models import build_encoder, projector
    from monorobust.train.optim import LARS

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--width", type=int, default=8, help="ResNet-18 width (the preset's: 64)")
    p.add_argument("--steps", type=int, default=50)
    args = p.parse_args()
    pcfg = load_config("cifar100").pretrain
    scale = args.width / pcfg.width
    encoder = build_encoder(pcfg.encoder, 3, 32, args.width)
    head = projector(encoder.out_dim, max(16, int(pcfg.proj_hidden * scale)),
                     max(16, int(pcfg.proj_dim * scale)), pcfg.proj_batchnorm)
    model = torch.nn.Sequential(encoder, head).to(args.device)
    params = list(model.parameters())
    for q in params:
        q.grad = torch.randn_like(q)
    fused = LARS(params, lr=pcfg.lr, weight_decay=pcfg.weight_decay)
    fused.compile_update()                         # pretrain.compile_optimizer
    optimizers = {"LARS (ours)": LARS(params, lr=pcfg.lr, weight_decay=pcfg.weight_decay),
                  "LARS compiled": fused,
                  "SGD foreach (torch)": torch.optim.SGD(params, lr=pcfg.lr, momentum=0.9,
                                                         foreach=True)}
    seconds = {}
    for name, opt in optimizers.items():
        for _ in range(3):
            opt.step()
        sync(args.device)
        started = time.perf_counter()
        for _ in range(args.steps):
            opt.step()
        sync(args.device)
        seconds[name] = (time.perf_counter() - started) / args.steps
    print(f"{len(params)} tensors, {sum(q.numel() for q in params) / 1e6:.1f} M parameters, "
          f"{args.device}, {torch.get_num_threads()} threads")
    for name, sec in seconds.items():
        print(f"  {name:<22} {1e3 * sec:8.2f} ms a step")
    lars, compiled, sgd = seconds.values()
    print(f"  ratio LARS / SGD: {lars / sgd:.2f}, compiled LARS / SGD: {compiled / sgd:.2f}")


if __name__ == "__main__":
    main()
