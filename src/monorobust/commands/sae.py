"""Train the TopK sparse autoencoder on a run's CL features (or a feature file); print FVU, L0, dead.

    monorobust sae runs/quick                      # every seed's CL checkpoint, the run's sae config
    monorobust sae runs/quick --k 32 --steps 500   # override SAE settings
    monorobust sae --features feats.npy --test-features test.npy --out runs/my-sae

Features are the projector outputs g(f(x)) of the training split (L2-normalised before the SAE,
as the authors do). Checkpoints go to OUT/sae-seedS.safetensors (default OUT: RUN_DIR/sae);
FVU, mean L0 and the dead fraction are printed for the training and the test features.
"""

from __future__ import annotations

import argparse

from monorobust.commands.common import seed_type


def add_arguments(p: argparse.ArgumentParser) -> None:
    from monorobust.flags import add_dataclass_arguments, add_set_option
    from monorobust.sae import SAEConfig

    p.add_argument("run_dir", nargs="?", help="a run folder with checkpoints/cl-seedS/")
    p.add_argument("--features", help="(N, D) training features (.npy, .pt, .safetensors) "
                   "instead of a run folder")
    p.add_argument("--test-features", help="(M, D) held-out features to report FVU on")
    p.add_argument("--out", help="folder for sae-seedS.safetensors (default: RUN_DIR/sae)")
    p.add_argument("--seeds", type=seed_type, nargs="+", help="default: the run's seeds (or 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    # One flag per SAEConfig field (or --set sae.KEY=VALUE), on top of the run's sae section.
    add_dataclass_arguments(p.add_argument_group("SAE settings"), SAEConfig)
    add_set_option(p, "sae.k=32")


def main(args: argparse.Namespace) -> int:
    from contextlib import nullcontext
    from dataclasses import asdict
    from pathlib import Path

    from monorobust.errors import ConfigError
    from monorobust.flags import dataclass_from_args
    from monorobust.lock import hold_folder
    from monorobust.rundir import RunDir
    from monorobust.sae import SAEConfig

    if (args.run_dir is None) == (args.features is None):
        raise ConfigError("pass either a run folder (monorobust sae RUN_DIR) or --features FILE")
    if args.run_dir is not None:
        from monorobust.experiment import check_sae_fits

        run_cfg, sources, splits = _run_sources(Path(args.run_dir), args.seeds)
        cfg = dataclass_from_args(SAEConfig, args, base=asdict(run_cfg.sae), section="sae")
        if not run_cfg.pretrain.encoder.startswith("hf:"):   # the SAE trains on the CPU here
            check_sae_fits(run_cfg, cfg, splits, "cpu", f"{args.run_dir}'s cl encoder")
        out = Path(args.out) if args.out else RunDir(args.run_dir).sae
    else:
        from monorobust.evaluate.arrays import load_array
        from monorobust.sae import check_sae_input

        if args.out is None:
            raise ConfigError("--features needs --out FOLDER for the SAE checkpoint")
        cfg = dataclass_from_args(SAEConfig, args, section="sae")
        train = check_sae_input(load_array(args.features, "--features", "features"), cfg,
                                "--features")
        cfg.check_fits(train.shape[1], len(train), "cpu", "--features")
        test = None
        if args.test_features:
            test = check_sae_input(load_array(args.test_features, "--test-features", "features"),
                                   cfg, "--test-features")
            if test.shape[1] != train.shape[1]:
                raise ConfigError(f"--test-features has D={test.shape[1]}, --features D={train.shape[1]}")
        sources = [(seed, lambda t=train, s=test: (t, s)) for seed in (args.seeds or [0])]
        out = Path(args.out)
    print(f"TopK SAE: width {cfg.width or 'D (input width)'}, k {cfg.k or 'width/8'}, "
          f"aux_k {cfg.aux_k}, batch {cfg.batch_size}, "
          f"{'steps ' + str(cfg.steps) if cfg.steps else str(cfg.epochs) + ' epochs'}")
    # The run folder (its checkpoints must not change underneath) and, when --out lies
    # elsewhere, that folder too: two sae commands of two runs into one --out overwrote each other.
    with hold_folder(args.run_dir or out, "sae"), \
            (hold_folder(out, "sae") if args.run_dir and not _inside(out, Path(args.run_dir))
             else nullcontext()):
        _train_all(sources, cfg, out, args)
    return 0


def _inside(path, folder) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _train_all(sources, cfg, out, args: argparse.Namespace) -> None:
    from monorobust.sae import evaluate_sae, save_sae, train_sae

    header = f"{'seed':>4}  {'split':5}  {'FVU':>7}  {'nMSE':>7}  {'L0':>6}  {'dead':>6}  {'samples/s':>9}"
    lines = []
    for seed, get in sources:
        train, test = get()
        result = train_sae(train, cfg, seed, progress=not args.quiet)
        path = out / f"sae-seed{seed}.safetensors"
        extra = {"seed": seed}
        if test is not None:
            extra["test_stats"] = evaluate_sae(result.model, test, cfg=cfg)._asdict()
        save_sae(path, result, cfg, extra)
        for split, st in (("train", result.stats), ("test", extra.get("test_stats"))):
            if st is not None:
                st = st if isinstance(st, dict) else st._asdict()
                speed = f"{result.samples_per_second:9.0f}" if split == "train" else f"{'-':>9}"
                lines.append(f"{seed:>4}  {split:5}  {st['fvu']:7.4f}  {st['nmse']:7.4f}  "
                             f"{st['mean_l0']:6.1f}  {st['dead_fraction']:6.3f}  {speed}")
    print(header, *lines, sep="\n")
    print(f"(dead: share of latents that fire on no sample of the split)\nwrote {out}/")


def _run_sources(run_dir, seeds):
    """The run's config, per seed a loader of (train, test) CL projector features, and the
    run's data splits."""
    from monorobust.config import RunConfig
    from monorobust.errors import ConfigError
    from monorobust.evaluate import extract, model_encoder
    from monorobust.rundir import RunDir
    from monorobust.data.prepare import prepare_splits
    from monorobust.train.pretrain import finished_pretraining, load_pretrained

    folder = RunDir(run_dir)
    cfg = folder.read_config(RunConfig) if (folder / RunDir.CONFIG).is_file() else None
    if cfg is None:
        raise ConfigError(f"{run_dir} is not a run folder (no config.yaml); run `monorobust run "
                          f"--out {run_dir}` first, or pass --features FILE")
    seeds = seeds or list(cfg.seeds)
    ckpts = {seed: finished_pretraining(folder, "cl", seed, cfg.pretrain.epochs)
             for seed in seeds}
    splits = prepare_splits(cfg.data)

    def loader(seed):
        def get():
            model = load_pretrained(ckpts[seed], tuple(splits.train.images.shape[1:]))
            encode = model_encoder(model, cfg.probe.features)
            return extract(encode, splits.train.images), extract(encode, splits.test.images)
        return get

    return cfg, [(seed, loader(seed)) for seed in seeds], splits
