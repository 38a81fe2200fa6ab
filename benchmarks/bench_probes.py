"""Throughput of batched linear probes (``train_probes``) against one at a time (``train_probe``).

    python benchmarks/bench_probes.py [--n 54000] [--dim 256] [--probes 13] [--steps 200]
                                      [--threads 1] [--device cpu]

The same work both ways: K probes on one (N, D) feature matrix (the quick preset's training
split and projector width by default), each with its own label vector: 13 by default, what one batched call of a
study holds (clean + 3 noise types x 4 rates; the ``tuned-l2`` protocol multiplies it by its 6
strengths, so try ``--probes 78`` too), the quick preset's probe settings (AdamW, batch 1024, validation every 50 steps) cut to
``--steps`` steps. Prints each path's probes per second, the ratio, and the largest weight
difference between the paths (they must agree within float rounding).

Timings on a shared machine move with its load: run it a few times and read the ratio, not the
absolute seconds. Run by hand; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    from monorobust.evaluate import ProbeConfig, train_probe
    from monorobust.evaluate.batched import train_probes

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=54000, help="training samples")
    ap.add_argument("--dim", type=int, default=256, help="feature dimension D")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--probes", type=int, default=13, help="K label vectors sharing the features")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: a loaded shared machine makes two far slower)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)

    g = torch.Generator().manual_seed(0)
    c, k = args.classes, args.probes
    y = torch.randint(0, c, (args.n,), generator=g)
    x = torch.randn(args.n, args.dim, generator=g)
    x[:, :c] += 2 * torch.nn.functional.one_hot(y, c)
    # K label vectors: the true labels with 0..80% of them replaced at random
    ys = y.repeat(k, 1)
    for i in range(k):
        m = torch.rand(args.n, generator=g) < 0.8 * i / max(1, k - 1)
        ys[i, m] = torch.randint(0, c, (int(m.sum()),), generator=g)
    n_val = args.n // 9
    vx, vys = x[:n_val].to(dev), ys[:, :n_val].to(dev)
    x, ys = x.to(dev), ys.to(dev)
    cfg = ProbeConfig(steps=args.steps, batch_size=1024, lr=0.01, eval_every=50)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    warm = ProbeConfig(steps=60, batch_size=1024, lr=0.01, eval_every=50)   # first calls are slow
    train_probe(x, ys[0], vx, vys[0], c, warm, seed=0)
    train_probes(x, ys[:2], vx, vys[:2], c, warm, seed=0)
    sync()
    t0 = time.perf_counter()
    single = [train_probe(x, ys[i], vx, vys[i], c, cfg, seed=0) for i in range(k)]
    sync()
    t_single = time.perf_counter() - t0
    t0 = time.perf_counter()
    batched = train_probes(x, ys, vx, vys, c, cfg, seed=0)
    sync()
    t_batched = time.perf_counter() - t0

    diff = max(float((a.weight - b.weight).abs().max()) for a, b in zip(single, batched))
    same_step = sum(a.best_step == b.best_step for a, b in zip(single, batched))
    print(f"{k} probes, N={args.n}, D={args.dim}, C={c}, {args.steps} steps, batch 1024, "
          f"{args.threads} threads, {dev}")
    print(f"one at a time: {t_single:7.2f} s  ({k / t_single:6.2f} probes/s)")
    print(f"batched:       {t_batched:7.2f} s  ({k / t_batched:6.2f} probes/s)")
    print(f"ratio batched / one at a time: {t_single / t_batched:.1f}x")
    print(f"largest weight difference: {diff:.2e}; same kept step: {same_step}/{k}")
    print("(a shared machine: timings vary with its load; compare ratios across runs)")


if __name__ == "__main__":
    main()
