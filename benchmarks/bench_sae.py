"""Our TopK SAE against sae-lens's TopK SAE: same activations, width, k, batch, steps, lr.

    python benchmarks/bench_sae.py                       # synthetic activations (no run needed)
    python benchmarks/bench_sae.py --run runs/quick      # CL projector outputs of a quick run
    python benchmarks/bench_sae.py --features feats.npy  # any (N, D) array file

Each SAE is trained by its own library's loop (ours: ``monorobust.sae.train_sae``; sae-lens:
``SAETrainer.fit`` fed with the same activation batches), ``--repeats`` times, alternating, so
both see the same machine load; the fastest repeat of each counts. Throughput is training
samples per second of the optimisation loop. FVU is measured by one function (``RunningFVU``)
on the same held-out 10% of the activations. With several ``--lr``, both run at each and the
best FVU of each library is compared (their parameterisations differ: sae-lens starts its
decoder at norm 0.1 and divides by the norm, ours keeps unit-norm columns, so the same nominal
rate is not the same effective rate). Inputs are L2-normalised first, as the authors
train their SAE on normalised CL features.

sae-lens must be importable (``pip install sae-lens``; it installs beside torch 2.13 without
replacing it; a virtual environment with ``--system-site-packages`` keeps its dependencies
out of the main environment). Both run in one process, on the CPU unless ``--device`` says.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

from monorobust.sae import SAEConfig, train_sae
from monorobust.sae.loss import RunningFVU


def synthetic(n: int, d: int, seed: int) -> torch.Tensor:
    """Superposed sparse features: 4d unit directions, each active with probability 2%."""
    g = torch.Generator().manual_seed(seed)
    dirs = F.normalize(torch.randn(4 * d, d, generator=g), dim=1)
    active = torch.rand(n, 4 * d, generator=g) < 0.02
    coef = torch.rand(n, 4 * d, generator=g) * active
    return coef @ dirs + 0.01 * torch.randn(n, d, generator=g)


def run_activations(run_dir: Path) -> torch.Tensor:
    """CL projector outputs g(f(x)) of the training split, seed 0 (cached beside the run)."""
    from safetensors.torch import load_file, save_file

    cache = run_dir / "sae" / "bench-activations.safetensors"
    if cache.exists():
        return load_file(str(cache))["features"]
    from monorobust.config import load_config
    from monorobust.evaluate import extract, model_encoder
    from monorobust.data.prepare import prepare_splits
    from monorobust.train.checkpoint import latest_checkpoint
    from monorobust.train.pretrain import load_pretrained

    cfg = load_config(str(run_dir / "config.yaml"))
    ckpt = latest_checkpoint(run_dir / "checkpoints" / "cl-seed0")
    if ckpt is None:
        raise SystemExit(f"no CL checkpoint under {run_dir}/checkpoints/cl-seed0")
    splits = prepare_splits(cfg.data)
    model = load_pretrained(ckpt, tuple(splits.train.images.shape[1:]))
    feats = extract(model_encoder(model, cfg.probe.features), splits.train.images)
    cache.parent.mkdir(parents=True, exist_ok=True)
    save_file({"features": feats.contiguous()}, str(cache))
    return feats


def batches(x: torch.Tensor, batch: int, seed: int):
    """Endless minibatches of ``x``, reshuffled every epoch (sae-lens's data provider)."""
    g = torch.Generator().manual_seed(seed)
    while True:
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - batch + 1, batch):
            yield x[perm[i:i + batch]]


@torch.no_grad()
def fvu_of(encode_decode, x: torch.Tensor, chunk: int = 8192) -> tuple[float, float]:
    """(FVU, mean L0) of a reconstruction function returning (recon, latents)."""
    running, l0 = RunningFVU(), 0.0
    for i in range(0, len(x), chunk):
        recon, lat = encode_decode(x[i:i + chunk])
        running.update(recon, x[i:i + chunk])
        l0 += float((lat != 0).sum())
    return running.value(), l0 / len(x)


def train_ours(x, val, args):
    cfg = SAEConfig(width=args.width, k=args.k, lr=args.lr, batch_size=args.batch,
                    steps=args.steps, warmup_steps=args.warmup, aux_k=args.aux_k,
                    dead_threshold=args.dead_window * args.batch, normalize_input=False)
    res = train_sae(x, cfg, seed=args.seed)
    m = res.model
    fvu, l0 = fvu_of(lambda h: (m.decode(lat := m.encode(h)), lat), val)
    return res.samples / res.seconds, fvu, l0


def train_saelens(x, val, args):
    from sae_lens.config import SAETrainerConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.training.sae_trainer import SAETrainer

    torch.manual_seed(args.seed)
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=x.shape[1], d_sae=args.width, k=args.k,
                                                dtype="float32", device=args.device))
    tcfg = SAETrainerConfig(total_training_samples=args.steps * args.batch,
                            train_batch_size_samples=args.batch, lr=args.lr,
                            lr_end=args.lr, lr_warm_up_steps=args.warmup, device=args.device,
                            dead_feature_window=args.dead_window)
    trainer = SAETrainer(tcfg, sae, batches(x, args.batch, args.seed))
    started = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - started
    sae.eval()

    def enc_dec(h):
        lat = sae.encode(h)
        return sae.decode(lat), lat

    fvu, l0 = fvu_of(enc_dec, val)
    return args.steps * args.batch / seconds, fvu, l0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, help="run folder: CL projector outputs of its training split")
    p.add_argument("--features", help="(N, D) activations file (.npy, .pt, .safetensors)")
    p.add_argument("--synthetic-n", type=int, default=60000)
    p.add_argument("--synthetic-d", type=int, default=256)
    p.add_argument("--width", type=int, help="dictionary size (default: the input width)")
    p.add_argument("--k", type=int, help="latents kept per sample (default: width / 8)")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--steps", type=int, default=260, help="default: 5 epochs of the quick data")
    p.add_argument("--lr", type=float, nargs="+", default=[8e-3],
                   help="one or more learning rates; both libraries run at each")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--aux-k", type=int, default=None, help="ours: AuxK latents (sae-lens: d/2 always)")
    p.add_argument("--dead-window", type=int, default=20, help="steps without firing = dead")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.features:
        from monorobust.evaluate.arrays import check_features, load_array

        acts, source = check_features(load_array(args.features, "--features", "features"), "--features"), args.features
    elif args.run:
        acts, source = run_activations(args.run), f"CL projector outputs of {args.run}"
    else:
        acts, source = synthetic(args.synthetic_n, args.synthetic_d, args.seed), "synthetic"
    acts = F.normalize(acts.float(), dim=1)
    args.width = args.width or acts.shape[1]
    args.k = args.k or max(1, args.width // 8)
    n_val = len(acts) // 10
    x, val = acts[:-n_val].contiguous(), acts[-n_val:].contiguous()
    print(f"activations: {source}, {tuple(acts.shape)} (train {len(x)}, held out {len(val)}); "
          f"width {args.width}, k {args.k}, batch {args.batch}, steps {args.steps}; "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    runs = []                                   # (lr, name, samples/s, FVU, L0)
    for lr in args.lr:
        args_lr = argparse.Namespace(**{**vars(args), "lr": lr})
        for rep in range(args.repeats):
            for name, fn in (("ours", train_ours), ("sae-lens", train_saelens)):
                sps, fvu, l0 = fn(x, val, args_lr)
                runs.append((lr, name, sps, fvu, l0))
                print(f"  lr {lr:g} repeat {rep}: {name:8s} {sps:9.0f} samples/s  FVU {fvu:.4f}  "
                      f"L0 {l0:.1f}", flush=True)
    print(f"\n{'':10s} {'lr':>7s} {'samples/s':>10s} {'FVU':>8s} {'L0':>6s}")
    best = {}
    for name in ("ours", "sae-lens"):
        mine = [r for r in runs if r[1] == name]
        fastest = max(r[2] for r in mine)
        lr, _, _, fvu, l0 = min(mine, key=lambda r: r[3])            # best FVU over the lrs
        best[name] = (fastest, fvu)
        print(f"{name:10s} {lr:7g} {fastest:10.0f} {fvu:8.4f} {l0:6.1f}")
    (s1, f1), (s2, f2) = best["ours"], best["sae-lens"]
    print(f"ratio ours/sae-lens: speed {s1 / s2:.2f}x (fastest run of each), FVU {f1 / f2:.3f} "
          f"(best lr of each; {'within' if f1 <= 1.05 * f2 else 'NOT within'} 5%)")
    for lr in args.lr if len(args.lr) > 1 else []:
        o = min(r[3] for r in runs if r[0] == lr and r[1] == "ours")
        t = min(r[3] for r in runs if r[0] == lr and r[1] == "sae-lens")
        print(f"  at lr {lr:g}: FVU ours {o:.4f}, sae-lens {t:.4f}, ratio {o / t:.3f}")

if __name__ == "__main__":
    main()
