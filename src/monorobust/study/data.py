"""What ``monorobust study`` reads from a run folder: its config, splits, and per seed the
features of every representation (extracted once from the run's checkpoints, then cached in
``RUN_DIR/study/``) and the label vectors of every regime (subsets and noise drawn once per seed
and regime, shared by every representation and protocol, so that differences pair by seed).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, NamedTuple

import torch

from monorobust.errors import ConfigError
from monorobust.rundir import RunDir

FEATURE_KEYS = ("train", "val", "test", "test_labels", "test_noise", "test_noise_labels")


class StudyLabels(NamedTuple):
    """One seed and regime: the subsets and K label vectors (clean first, then every noise
    type x rate of ``study.label_points``)."""

    train_idx: torch.Tensor
    """(N,) indices into the training split."""
    val_idx: torch.Tensor
    train_y: torch.Tensor
    """(K, N) labels."""
    val_y: torch.Tensor
    """(K, M) labels (the same noise type and rate as the training labels)."""
    realised: list[float]
    """(K,) share of training labels changed."""
    points: list[tuple[str, str, float]]
    """(K,) (noise_type, scenario, severity)."""


class StudyData:
    """The run's config, splits and representations; features and labels on demand."""

    def __init__(self, folder: RunDir, run_cfg: Any, splits: Any, cfg: Any, device: str) -> None:
        self.folder, self.run_cfg, self.splits, self.cfg = folder, run_cfg, splits, cfg
        self.device = torch.device(device)
        self.num_classes = splits.num_classes
        self.probe_cfg = run_cfg.probe
        self.reps = list(cfg.representations or run_cfg.representations)
        self.seeds = list(cfg.seeds or run_cfg.seeds)
        self._features: dict[tuple[str, int], dict[str, torch.Tensor]] = {}
        self._labels: dict[tuple[int, int], StudyLabels] = {}
        self._probs: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.checkpoints: dict[tuple[str, int], Path] = {}
        """(objective, seed) -> the run's finished checkpoint (checked by ``open``)."""

    @classmethod
    def open(cls, folder: RunDir, cfg: Any, device: str = "cpu") -> StudyData:
        from monorobust.config import RunConfig
        from monorobust.data.prepare import prepare_splits
        from monorobust.evaluate import REPRESENTATIONS
        from monorobust.perturb import LABEL_NOISE_TYPES

        # No results-format check: the study reads only the run's config and checkpoints and
        # draws every subset and noise of its own rows (study.jsonl) with this version.
        run_cfg = folder.read_config(RunConfig)
        if run_cfg is None:
            raise ConfigError(f"{folder.root} is not a run folder (no config.yaml); run "
                              f"`monorobust run --out {folder.root}` first")
        splits = prepare_splits(run_cfg.data)
        data = cls(folder, run_cfg, splits, cfg, device)
        for rep in data.reps:
            REPRESENTATIONS.get(rep)
        for kind in cfg.noise_types:       # every capped rate must be one this type can run
            from monorobust.study.config import capped_rates

            for rate in capped_rates(kind, cfg.noise_rates, data.num_classes):
                LABEL_NOISE_TYPES.get(kind).check(rate, data.num_classes)
        smallest = int(torch.bincount(splits.train.labels, minlength=data.num_classes).min())
        too_many = [n for n in cfg.n_per_class if n > smallest]
        if too_many:
            raise ConfigError(f"study.n_per_class {too_many} exceeds the smallest class of the "
                              f"training split ({smallest}); use 0 for all examples")
        from monorobust.train.pretrain import finished_pretraining

        for objective in dict.fromkeys(REPRESENTATIONS.get(r).objective for r in data.reps):
            for seed in data.seeds:
                data.checkpoints[(objective, seed)] = finished_pretraining(
                    folder, objective, seed, run_cfg.pretrain.epochs)
        return data

    # -- labels ------------------------------------------------------------------------------
    def _reference(self, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Instance noise's reference probabilities on the train and val splits: a linear
        classifier on the pixels trained on the clean training labels (the same for every
        representation, so no side is attacked on its own hard samples)."""
        if seed not in self._probs:
            from monorobust.perturb import reference_probs
            from monorobust.study.config import study_seed

            tr = self.splits.train.images.flatten(1).float().div_(255)
            va = self.splits.val.images.flatten(1).float().div_(255)
            probs = reference_probs(tr, self.splits.train.labels, self.num_classes,
                                    study_seed(seed, "reference"),
                                    score_features=torch.cat([tr, va]))
            self._probs = {seed: (probs[:len(tr)], probs[len(tr):])}
        return self._probs[seed]

    def labels(self, seed: int, n: int) -> StudyLabels:
        if (seed, n) in self._labels:
            return self._labels[(seed, n)]
        from monorobust.perturb import LABEL_NOISE_TYPES, regime_indices
        from monorobust.study.config import label_points, study_seed

        sp, c = self.splits, self.num_classes
        tr_idx = regime_indices(sp.train.labels, n or None, c, study_seed(seed, "regime", n))
        n_val = None
        if n:
            val_min = int(torch.bincount(sp.val.labels, minlength=c).min())
            n_val = min(val_min, max(1, math.ceil(n * len(sp.val) / len(sp.train))))
        va_idx = regime_indices(sp.val.labels, n_val, c, study_seed(seed, "regime-val", n))
        ty, vy = sp.train.labels[tr_idx], sp.val.labels[va_idx]
        points = label_points(self.cfg, c)
        train_y, val_y, realised = [ty], [vy], [0.0]
        for kind, _, rate in points[1:]:
            nt = LABEL_NOISE_TYPES.get(kind)
            gen = study_seed(seed, "noise", kind, rate, n)
            ptr = pva = None
            if nt.needs_reference:
                ptr, pva = self._reference(seed)
                ptr, pva = ptr[tr_idx], pva[va_idx]
            noisy = nt.apply(ty, rate, c, gen, probs=ptr)
            train_y.append(noisy.labels)
            val_y.append(nt.apply(vy, rate, c, gen, probs=pva).labels)
            realised.append(float(noisy.realised_rate))
        out = StudyLabels(tr_idx, va_idx, torch.stack(train_y), torch.stack(val_y), realised,
                          points)
        self._labels = {k: v for k, v in self._labels.items() if k[0] == seed}
        self._labels[(seed, n)] = out
        return out

    # -- features ----------------------------------------------------------------------------
    def features(self, rep: str, seed: int) -> dict[str, torch.Tensor]:
        """train (N, D), val (M, D), test / test_noise (T, D) and their labels, of ``rep``."""
        if (rep, seed) not in self._features:
            self._features = {k: v for k, v in self._features.items() if k[1] == seed}
            cached = self._load(rep, seed)
            if cached is None:
                self._extract(seed)
                cached = self._load(rep, seed)
            self._features[(rep, seed)] = cached
        return self._features[(rep, seed)]

    def _meta(self, rep: str, seed: int) -> dict[str, str]:
        """What a feature cache was made from: a cache with other metadata is made again."""
        from monorobust.evaluate import REPRESENTATIONS
        from monorobust.train.checkpoint import checkpoint_identity

        ckpt = self.checkpoints[(REPRESENTATIONS.get(rep).objective, seed)]
        return {"input_noise": f"{self.cfg.input_noise:g}", "features": self.run_cfg.probe.features,
                "checkpoint": checkpoint_identity(ckpt)}

    def _load(self, rep: str, seed: int) -> dict[str, torch.Tensor] | None:
        """The cache of ``rep`` and ``seed``; None (extract again) when there is none, it was
        made from something else or before caches carried a checksum, or it is damaged (a
        truncated file or one whose bytes changed, with a warning: ``io.read_checked_cache``)."""
        from monorobust.io import read_checked_cache

        tensors = read_checked_cache(self.folder.study_features(rep, seed), self._meta(rep, seed),
                                     "feature cache")
        return tensors if tensors is not None and set(tensors) == set(FEATURE_KEYS) else None

    @torch.no_grad()
    def _extract(self, seed: int) -> None:
        """Features of every representation of ``seed`` from the run's checkpoints, cached."""
        from monorobust.evaluate import REPRESENTATIONS, extract, model_encoder
        from monorobust.evaluate.scenarios import SCENARIOS
        from monorobust.io import atomic_write_bytes, checked_cache_bytes
        from monorobust.train.pretrain import load_pretrained

        sp = self.splits
        test = sp.test.images
        noisy = (SCENARIOS.get("gaussian_noise").test_images(test, self.cfg.input_noise, seed, None)
                 if self.cfg.input_noise > 0 else test[:0])
        for objective in dict.fromkeys(REPRESENTATIONS.get(r).objective for r in self.reps):
            model = load_pretrained(self.checkpoints[(objective, seed)],
                                    tuple(sp.train.images.shape[1:])).to(self.device)
            encode = model_encoder(model, self.run_cfg.probe.features)
            raw = {k: extract(encode, x, device=self.device) for k, x in
                   (("train", sp.train.images), ("val", sp.val.images), ("test", test),
                    ("test_noise", noisy))}
            for rep in self.reps:
                r = REPRESENTATIONS.get(rep)
                if r.objective != objective:
                    continue
                fmap = self._posthoc(r, raw["train"], seed)
                out = {k: fmap(v).float().contiguous() for k, v in raw.items()}
                out["test_labels"] = sp.test.labels.clone()
                out["test_noise_labels"] = sp.test.labels[:len(noisy)].clone()
                atomic_write_bytes(self.folder.study_features(rep, seed),
                                   checked_cache_bytes(out, self._meta(rep, seed)))

    def _posthoc(self, rep: Any, train_raw: torch.Tensor, seed: int):
        """The run's fitted map of ``rep`` (its cached SAE, loaded as is: a rerun of the
        extraction may differ from the run's in float rounding, which must not refit it)."""
        from monorobust.sae.cache import CHECKPOINT

        ckpt = self.folder.posthoc(rep.name, seed) / CHECKPOINT
        if ckpt.exists():
            from monorobust.sae.train import latent_map, load_sae

            model = load_sae(ckpt)[0]
            return latent_map(model, self.run_cfg.sae)
        # No cached map of the run (identity / ReLU, or an SAE the run never fitted): fit it
        # in the study's own folder, never in the run's posthoc/.
        # _extract runs without autograd; fitting an SAE needs it.
        with torch.enable_grad():
            return rep.fit(train_raw, seed, self.folder.study_posthoc(rep.name, seed),
                           self.run_cfg)
