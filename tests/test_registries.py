"""Every registry entry, parametrised over the registry (the timm tests/test_models.py pattern).

A new scenario, representation or file-free dataset is covered here by registering it: its
declared facts are checked for form, and it is run at a tiny size according to what it is.
"""

from __future__ import annotations

import importlib.util
import re
from types import SimpleNamespace

import pytest
import torch

from monorobust.data import DATASETS, load_dataset
from monorobust.evaluate import REPRESENTATIONS, SCENARIOS, GridConfig
from monorobust.evaluate.scenarios import CLAIMS, CLEAN, Phase, TrainSet
from monorobust.sae import SAEConfig
from monorobust.train.config import PretrainConfig
from monorobust.train import OBJECTIVES

C = 10                                        # classes of the tiny problems below
FILE_FREE_DATASETS = ("digits",)
"""Datasets that load without a data folder or a download (the others are covered elsewhere)."""


PER_CLASS = 60
"""Examples per class of the tiny train split: enough for every default severity (k <= 50)."""


def _labels(n: int, seed: int) -> torch.Tensor:
    """``n`` labels of ``C`` balanced classes, shuffled."""
    labels = torch.arange(n) % C
    return labels[torch.randperm(n, generator=torch.Generator().manual_seed(seed))]


# --- scenarios --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SCENARIOS.names())
def test_scenario_declares_well_formed_facts(name):
    scen = SCENARIOS.get(name)
    assert scen.name == name
    assert isinstance(scen.phase, Phase)
    for text in (scen.title, scen.severity_name, scen.axis):
        assert isinstance(text, str) and text.strip()
    assert scen.claim is None or scen.claim in CLAIMS
    assert scen.primary in (min, max)
    assert isinstance(scen.zero_is_clean, bool) and isinstance(scen.log_axis, bool)
    assert isinstance(scen.defaults, tuple) and scen.defaults
    assert all(isinstance(s, (int, float)) and s >= 0 for s in scen.defaults)
    assert list(scen.defaults) == sorted(scen.defaults), "defaults ascend (curves are drawn in order)"
    if scen.integer_severity:
        assert all(float(s) == int(s) for s in scen.defaults)
    scen.params(GridConfig())                 # reads its parameters from a default grid


@pytest.mark.parametrize("name", SCENARIOS.names())
def test_scenario_defaults_pass_its_own_check(name):
    SCENARIOS.get(name).check(SCENARIOS.get(name).defaults, num_classes=C, min_class_size=PER_CLASS)


def test_every_claim_is_served_by_a_scenario_and_checks_refuse_bad_severities():
    served = {SCENARIOS.get(n).claim for n in SCENARIOS}
    assert set(CLAIMS) <= served
    from monorobust.errors import ConfigError

    for name in SCENARIOS:
        with pytest.raises(ConfigError, match=name):
            SCENARIOS.get(name).check((-1.0,), num_classes=C)


# Scenarios that read the dataset's side data (human_noise) are tested with it in their own file.
TRAIN = [n for n in SCENARIOS.names() if SCENARIOS.get(n).phase is Phase.TRAIN
         and not SCENARIOS.get(n).needs_data]
TEST = [n for n in SCENARIOS.names() if SCENARIOS.get(n).phase is Phase.TEST]


@pytest.mark.parametrize("name", TRAIN)
def test_train_scenario_gives_a_valid_train_set_at_each_default_severity(name):
    scen = SCENARIOS.get(name)
    train, val = _labels(C * PER_CLASS, 0), _labels(200, 1)
    for severity in scen.defaults:
        ts = scen.train_set(train, val, severity, C, torch.Generator().manual_seed(0))
        assert isinstance(ts, TrainSet)
        for idx, labels, source in ((ts.train_idx, ts.train_labels, train),
                                    (ts.val_idx, ts.val_labels, val)):
            assert idx.dtype == torch.int64 and labels.dtype == torch.int64
            assert len(idx) == len(labels) > 0
            assert int(idx.min()) >= 0 and int(idx.max()) < len(source)
            assert len(idx.unique()) == len(idx)                       # no example twice
            assert int(labels.min()) >= 0 and int(labels.max()) < C
        differs = float((ts.train_labels != train[ts.train_idx]).double().mean())
        assert ts.realised_noise_rate == pytest.approx(differs, abs=1e-12)
        again = scen.train_set(train, val, severity, C, torch.Generator().manual_seed(0))
        assert torch.equal(again.train_idx, ts.train_idx) and torch.equal(again.train_labels, ts.train_labels)


def test_label_noise_and_few_shot_train_sets_match_their_severity():
    train, val = _labels(200, 0), _labels(80, 1)
    noisy = SCENARIOS.get("label_noise").train_set(train, val, 0.4, C, torch.Generator().manual_seed(0))
    assert noisy.realised_noise_rate == 0.4 and len(noisy.train_idx) == 200
    shots = SCENARIOS.get("few_shot").train_set(train, val, 5, C, torch.Generator().manual_seed(0))
    assert torch.bincount(shots.train_labels, minlength=C).tolist() == [5] * C
    assert shots.realised_noise_rate == 0.0


def _needs_corrupt_tta(name: str) -> None:
    if name == "corrupt" and importlib.util.find_spec("corrupt_tta") is None:
        pytest.skip("the corrupt scenario needs corrupt-tta, which is not installed")


@pytest.mark.parametrize("name", TEST)
def test_test_scenario_gives_float_images_in_unit_range(name):
    _needs_corrupt_tta(name)
    scen = SCENARIOS.get(name)
    n = 4
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 16, 16), generator=gen, dtype=torch.uint8)
    params = scen.params(GridConfig(corruptions=("contrast", "pixelate")))
    for severity in scen.defaults:
        out = scen.test_images(images, severity, 0, params)
        assert out.is_floating_point()
        assert out.shape[1:] == images.shape[1:] and out.shape[0] % n == 0 and out.shape[0] >= n
        assert torch.isfinite(out).all() and float(out.min()) >= 0 and float(out.max()) <= 1
        assert torch.equal(out, scen.test_images(images, severity, 0, params))   # seeded
        if name == CLEAN:
            assert torch.equal(out, images.float() / 255)
        else:
            assert not torch.equal(out[:n], images.float() / 255), "a perturbation changes the images"


def _accepts_zero(name: str) -> bool:
    from monorobust.errors import ConfigError

    try:
        SCENARIOS.get(name).check((0,), num_classes=C)
    except ConfigError:
        return False                          # corrupt: 1-5 only; its curve borrows the clean point
    return True


@pytest.mark.parametrize("name", [n for n in SCENARIOS.names()
                                  if SCENARIOS.get(n).zero_is_clean and _accepts_zero(n)])
def test_severity_zero_is_the_clean_setting_where_declared(name):
    """Curves start at the clean accuracy at x = 0: that is only right if severity 0 is clean."""
    scen = SCENARIOS.get(name)
    if scen.phase is Phase.TRAIN:
        train, val = _labels(200, 0), _labels(80, 1)
        ts = scen.train_set(train, val, 0, C, torch.Generator().manual_seed(0))
        assert torch.equal(train[ts.train_idx], ts.train_labels) and ts.realised_noise_rate == 0
        assert len(ts.train_idx) == len(train)
    else:
        _needs_corrupt_tta(name)
        images = torch.randint(0, 256, (4, 1, 16, 16), generator=torch.Generator().manual_seed(0),
                               dtype=torch.uint8)
        out = scen.test_images(images, 0, 0, scen.params(GridConfig()))
        assert torch.allclose(out, images.float() / 255)


# --- representations --------------------------------------------------------------------------

@pytest.mark.parametrize("name", REPRESENTATIONS.names())
def test_representation_declares_well_formed_facts(name):
    rep = REPRESENTATIONS.get(name)
    assert rep.name == name
    assert rep.objective in (*OBJECTIVES, "frozen")     # frozen: a pretrained hf: backbone
    assert isinstance(rep.label, str) and rep.label.strip()
    assert isinstance(rep.monosemantic, bool)
    assert rep.colour is None or re.fullmatch(r"#[0-9A-Fa-f]{6}", rep.colour)


def test_registered_colours_and_labels_are_distinct():
    reps = [REPRESENTATIONS.get(n) for n in REPRESENTATIONS]
    colours = [r.colour.lower() for r in reps if r.colour is not None]
    assert len(colours) == len(set(colours))
    assert len({r.label for r in reps}) == len(reps)
    assert any(r.monosemantic for r in reps) and any(not r.monosemantic for r in reps)


@pytest.mark.parametrize("name", REPRESENTATIONS.names())
def test_representation_fit_maps_raw_features_to_finite_features(name, tmp_path):
    rep = REPRESENTATIONS.get(name)
    gen = torch.Generator().manual_seed(0)
    train_raw, test_raw = torch.randn(128, 12, generator=gen), torch.randn(20, 12, generator=gen)
    cfg = SimpleNamespace(sae=SAEConfig(width=16, k=4, steps=5, batch_size=32),
                          pretrain=PretrainConfig(proj_hidden=16, proj_dim=8, epochs=2,
                                                  batch_size=32))
    # Representations of a frozen backbone also get the features of two augmented views.
    views = {"views": torch.stack([train_raw + 0.1 * torch.randn(128, 12, generator=gen)
                                   for _ in range(2)])} if rep.objective == "frozen" else {}
    fmap = rep.fit(train_raw, 0, tmp_path, cfg, **views)
    for raw in (train_raw, test_raw):
        out = fmap(raw)
        assert out.ndim == 2 and out.shape[0] == raw.shape[0] and out.shape[1] >= 1
        assert torch.isfinite(out).all()
    if rep.objective == "ncl" or name == "frozen+ncl":
        assert (fmap(test_raw) >= 0).all()
    if name == "cl+sae":                      # TopK: exactly k latents kept, of the SAE's width
        out = fmap(test_raw)
        assert out.shape[1] == 16 and ((out != 0).sum(1) <= 4).all()


# --- datasets ---------------------------------------------------------------------------------

def test_file_free_datasets_are_registered():
    assert set(FILE_FREE_DATASETS) <= set(DATASETS.names())


@pytest.mark.parametrize("name", FILE_FREE_DATASETS)
def test_file_free_dataset_loads_uint8_images_and_labels_in_range(name):
    ds = load_dataset(name)
    for split in (ds.train, ds.test):
        assert split.images.dtype == torch.uint8 and split.images.ndim == 4
        assert split.images.shape[0] == split.labels.shape[0] > 0
        assert split.labels.dtype == torch.int64
        assert int(split.labels.min()) >= 0 and int(split.labels.max()) < ds.num_classes
        assert set(split.labels.tolist()) == set(range(ds.num_classes))
    assert ds.train.images.shape[1:] == ds.test.images.shape[1:] == ds.image_shape
    assert int(ds.train.images.max()) > 128      # scaled to the uint8 range, not left at 0..16
