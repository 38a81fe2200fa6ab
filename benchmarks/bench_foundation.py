"""Time the metrics on 10,000 x 2,048 features and one pretraining epoch.

    python benchmarks/bench_foundation.py [--encoder mlp] [--epoch-images 54000]

Metrics are compared in the same run against a reference written the way the authors' code
does it (a Python loop over dimensions, NumPy) on the same features; the ratio is printed.
Run by hand; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from monorobust import metrics


def loop_semantic_consistency(features: np.ndarray, labels: np.ndarray) -> float:
    """Per-dimension loop, as in the authors' evaluation code."""
    scores = []
    for d in range(features.shape[1]):
        active = np.abs(features[:, d]) > 1e-5
        if active.any():
            scores.append(np.bincount(labels[active]).max() / active.sum())
    return float(np.mean(scores))


def numpy_effective_rank(features: np.ndarray) -> float:
    s = np.linalg.svd(features - features.mean(0), compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def timed(fn, *args, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t)
    return best, out


def bench_metrics() -> None:
    g = torch.Generator().manual_seed(0)
    feats = torch.relu(torch.randn(10_000, 2048, generator=g))
    labels = torch.randint(0, 100, (10_000,), generator=g)
    f_np, l_np = feats.numpy(), labels.numpy()
    print("metrics on 10,000 x 2,048 features (best of 3)")
    t_ours, sc = timed(metrics.semantic_consistency, feats, labels)
    t_ref, sc_ref = timed(loop_semantic_consistency, f_np, l_np)
    print(f"  semantic_consistency  ours {t_ours:.3f} s  loop {t_ref:.3f} s  "
          f"speed-up x{t_ref / t_ours:.1f}  (values {sc:.5f} vs {sc_ref:.5f})")
    t_ours, er = timed(metrics.effective_rank, feats)
    t_ref, er_ref = timed(numpy_effective_rank, f_np.astype(np.float64))
    print(f"  effective_rank        ours {t_ours:.3f} s  numpy {t_ref:.3f} s  "
          f"ratio x{t_ref / t_ours:.2f}  (values {er:.1f} vs {er_ref:.1f})")
    t_all, _ = timed(metrics.summarize, feats, labels, 100, repeat=1)
    print(f"  summarize (all metrics) {t_all:.3f} s")


def bench_epoch(encoder: str, n_images: int) -> None:
    from monorobust.data import load_dataset
    from monorobust.train import PretrainConfig, pretrain
    import tempfile

    images = load_dataset("fashion-mnist").train.images[:n_images]
    from monorobust.config import load_config

    cfg = load_config("quick").pretrain
    cfg = PretrainConfig(**{**cfg.__dict__, "encoder": encoder, "epochs": 1,
                            "width": cfg.width if encoder == "mlp" else 32})
    with tempfile.TemporaryDirectory() as tmp:
        result = pretrain(images, cfg, "cl", 0, tmp, progress=False)
    print(f"one pretraining epoch ({encoder}, quick preset, {n_images} images, "
          f"{torch.get_num_threads()} threads): {result.seconds:.1f} s, "
          f"{n_images / result.seconds:.0f} images/s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--encoder", default="mlp")
    p.add_argument("--epoch-images", type=int, default=54_000)
    args = p.parse_args()
    bench_metrics()
    bench_epoch(args.encoder, args.epoch_images)


if __name__ == "__main__":
    main()
