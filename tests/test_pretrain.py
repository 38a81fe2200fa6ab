import pytest
import torch

from monorobust.data import load_dataset
from monorobust.train import PretrainConfig, load_pretrained, pretrain
from monorobust.train.augment import AugmentConfig, simclr_augment
from monorobust.train.checkpoint import latest_checkpoint, load_checkpoint

CFG = PretrainConfig(encoder="mlp", width=32, proj_hidden=32, proj_dim=16, epochs=3,
                     batch_size=128, lr=2e-3,
                     augment=AugmentConfig(crop_scale=(0.5, 1.0), flip_p=0.0, blur_p=0.0))


def _images():
    return load_dataset("digits").train.images[:600]


def test_resumed_pretraining_ends_with_the_same_weights(tmp_path):
    images = _images()
    full = pretrain(images, CFG, "ncl", seed=3, out_dir=tmp_path / "full", progress=False)
    # Crash in the middle of the second epoch (after the first epoch's checkpoint), then resume.
    try:
        pretrain(images, CFG, "ncl", seed=3, out_dir=tmp_path / "cut", progress=False,
                 stop_after_steps=6)
    except InterruptedError:
        pass
    assert latest_checkpoint(tmp_path / "cut").name == "epoch-0001.safetensors"
    resumed = pretrain(images, CFG, "ncl", seed=3, out_dir=tmp_path / "cut", progress=False)
    assert resumed.losses == full.losses
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_is_self_describing_and_reloads(tmp_path):
    images = _images()
    result = pretrain(images, CFG, "cl", seed=0, out_dir=tmp_path, progress=False)
    path = latest_checkpoint(tmp_path)
    states, meta = load_checkpoint(path)
    assert meta["epoch"] == 3 and meta["objective"] == "cl" and meta["config"]["width"] == 32
    assert path.with_suffix(".json").exists()
    assert len(list(tmp_path.glob("epoch-*.safetensors"))) == CFG.keep_checkpoints
    model = load_pretrained(path, tuple(images.shape[1:]))
    x = images[:5].float() / 255
    assert torch.allclose(model(x), result.model.eval()(x))


def test_same_seed_same_weights_different_seed_different(tmp_path):
    images = _images()
    a = pretrain(images, CFG, "cl", seed=1, out_dir=tmp_path / "a", progress=False)
    b = pretrain(images, CFG, "cl", seed=1, out_dir=tmp_path / "b", progress=False)
    c = pretrain(images, CFG, "cl", seed=2, out_dir=tmp_path / "c", progress=False)
    assert a.losses == b.losses and a.losses != c.losses


def test_augmentations_keep_shape_range_and_follow_the_generator():
    x = torch.rand(64, 3, 16, 16)
    cfg = AugmentConfig()
    a = simclr_augment(x, cfg, torch.Generator().manual_seed(0))
    b = simclr_augment(x, cfg, torch.Generator().manual_seed(0))
    c = simclr_augment(x, cfg, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("channels", [3, 1])
def test_views_in_one_pass_equal_one_call_per_view(channels):
    from monorobust.train.augment import simclr_views

    x = torch.rand(32, channels, 16, 16)
    cfg = AugmentConfig(blur_p=0.5, grayscale_p=0.3)           # every transform in play
    one_by_one, together = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    expected = [simclr_augment(x, cfg, one_by_one) for _ in range(3)]
    for one_pass, gen in ((True, together), (False, torch.Generator().manual_seed(3))):
        views = simclr_views(x, cfg, gen, views=3, one_pass=one_pass)
        assert all(torch.equal(a, b) for a, b in zip(views, expected, strict=True))  # bit for bit
        assert torch.equal(one_by_one.get_state(), gen.get_state())        # the same draws


def test_crop_grid_is_affine_grid_of_the_axis_aligned_map():
    import torch.nn.functional as F

    from monorobust.train.augment import _crop_grid

    gen = torch.Generator().manual_seed(0)
    for height, width in ((28, 28), (32, 32), (20, 30)):
        sx, sy = torch.rand(64, generator=gen) * 2 - 1, torch.rand(64, generator=gen)
        cx, cy = torch.rand(64, generator=gen) - 0.5, torch.rand(64, generator=gen) - 0.5
        theta = torch.zeros(64, 2, 3)
        theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, cx, sy, cy
        expected = F.affine_grid(theta, [64, 1, height, width], align_corners=False)
        got = _crop_grid(sx, cx, sy, cy, height, width, torch.float32)
        assert got.shape == expected.shape
        assert torch.allclose(got, expected, rtol=0, atol=1e-6)


def test_hue_rotation_keeps_luma_and_is_the_identity_at_zero():
    from monorobust.train.augment import _gray, _rotate_hue

    x = torch.rand(16, 3, 8, 8)
    angle = torch.rand(16) * 6.28
    assert torch.allclose(_rotate_hue(x, torch.zeros(16)), x, atol=1e-6)
    assert torch.allclose(_gray(_rotate_hue(x, angle)), _gray(x), atol=1e-6)
    assert not torch.allclose(_rotate_hue(x, angle), x, atol=1e-2)       # chroma did move


def test_a_diverged_pretraining_stops_before_saving_its_epoch(tmp_path):
    """A learning rate so large that the loss turns NaN stops with one error naming the setting;
    the NaN weights are not saved as a finished epoch (they were, and the run went on to
    report an encoder of NaNs as the user's bad samples)."""
    from dataclasses import replace

    from monorobust.errors import ConfigError

    with pytest.raises(ConfigError, match=r"pretraining cl seed 0 diverged: the mean loss of "
                                          r"epoch 1 is nan \(pretrain.lr 1e\+30\)"):
        pretrain(_images(), replace(CFG, lr=1e30), "cl", seed=0, out_dir=tmp_path, progress=False)
    assert latest_checkpoint(tmp_path) is None


def test_a_non_finite_loss_that_left_the_weights_intact_is_not_divergence(tmp_path, monkeypatch):
    """16-mixed: the grad scaler skips a step whose loss overflowed, so the weights stay finite;
    such an epoch must not stop the run (here: a NaN loss value with a finite gradient)."""
    import importlib

    module = importlib.import_module("monorobust.train.pretrain")

    real = module.contrastive_loss

    def nan_valued(*args, **kwargs):
        loss = real(*args, **kwargs)
        return loss + (torch.tensor(float("nan")) - loss).detach()

    monkeypatch.setattr(module, "contrastive_loss", nan_valued)
    result = pretrain(_images(), CFG, "cl", seed=0, out_dir=tmp_path, progress=False)
    assert all(bool(torch.isfinite(p).all()) for p in result.model.parameters())
    assert latest_checkpoint(tmp_path).name == "epoch-0003.safetensors"
