"""Paper-scale training pieces at tiny size: LARS, streaming batches, seeds per process, speed options."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest
import torch

from monorobust.config import load_config
from monorobust.data import load_dataset
from monorobust.errors import ConfigError
from monorobust.train import PretrainConfig, build_model, pretrain
from monorobust.train.batches import augment_generator, epoch_order
from monorobust.train.checkpoint import flatten_state, unflatten_state
from monorobust.train.optim import LARS, OPTIMIZERS
from monorobust.train.pretrain import channel_stats

# torch.compile's CPU backend (inductor) writes and builds C++.
NEEDS_CXX = pytest.mark.skipif(not any(map(shutil.which, ("g++", "clang++", "c++"))),
                               reason="torch.compile's CPU backend needs a C++ compiler")
TINY = dict(width=32, proj_hidden=64, proj_dim=16, epochs=2, batch_size=32, lr=0.3,
            optimizer="lars")


def test_lars_step_matches_solo_learn_formula():
    w = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))          # ||w|| = 5
    b = torch.nn.Parameter(torch.tensor([1.0, -1.0]))            # 1-d: excluded
    opt = LARS([w, b], lr=0.1, momentum=0.9, weight_decay=0.01, eta=0.02, clip_lr=True)
    w.grad, b.grad = torch.tensor([[0.0, 1.0]]), torch.tensor([0.5, 0.5])
    opt.step()
    trust = min(0.02 * 5.0 / (1.0 + 5.0 * 0.01 + 1e-8) / 0.1, 1.0)
    expected = torch.tensor([[3.0, 4.0]]) - 0.1 * trust * (torch.tensor([[0.0, 1.0]]) + 0.01 * torch.tensor([[3.0, 4.0]]))
    torch.testing.assert_close(w.detach(), expected)
    torch.testing.assert_close(b.detach(), torch.tensor([0.95, -1.05]))   # plain SGD, no decay
    w.grad, b.grad = torch.zeros_like(w), torch.zeros_like(b)
    before = b.detach().clone()
    opt.step()                                     # zero gradient: momentum alone moves it
    torch.testing.assert_close(b.detach(), before - 0.1 * 0.9 * torch.tensor([0.5, 0.5]))
    # Its state goes through the safetensors checkpoint format unchanged.
    tensors: dict = {}
    restored = unflatten_state(flatten_state(opt.state_dict(), "opt", tensors), tensors)
    fresh = LARS([w, b], lr=0.1)
    fresh.load_state_dict(restored)
    assert torch.equal(fresh.state[b]["momentum_buffer"], opt.state[b]["momentum_buffer"])
    assert "lars" in OPTIMIZERS


def _lars_per_tensor(params, bufs, lr, momentum, wd, eta=0.02, eps=1e-8):
    """The solo-learn LARS step, tensor by tensor (the oracle for the multi-tensor one)."""
    for i, p in enumerate(params):
        d_p = p.grad
        if p.ndim != 1:
            p_norm, g_norm = p.norm(), d_p.norm()
            trust = (eta * p_norm / (g_norm + p_norm * wd + eps) / lr).clamp(max=1.0)
            ok = (p_norm > 0) & (g_norm > 0)
            d_p = (d_p + torch.where(ok, wd, 0.0) * p) * torch.where(ok, trust, 1.0)
        bufs[i] = d_p.clone() if bufs[i] is None else bufs[i].mul_(momentum).add_(d_p)
        p.data.add_(bufs[i], alpha=-lr)


@pytest.mark.parametrize("momentum", [0.9, 0.0])
def test_lars_multi_tensor_step_equals_the_per_tensor_formula(momentum):
    gen = torch.Generator().manual_seed(0)
    shapes = [(16, 8), (8,), (4, 3, 3, 3), (4,), (10, 16), (10,)]
    ours = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in shapes]
    ref = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    with torch.no_grad():
        ours[2].zero_(), ref[2].zero_()                      # a zero weight: no adaptation
    opt = LARS(ours, lr=0.3, momentum=momentum, weight_decay=1e-3)
    bufs = [None] * len(ref)
    for step in range(4):
        grads = [torch.randn(s, generator=gen) for s in shapes]
        if step == 1:
            grads[0].zero_()                                  # a zero gradient: no adaptation
        for p, q, g in zip(ours, ref, grads):
            p.grad, q.grad = g.clone(), g.clone()
        opt.step()
        _lars_per_tensor(ref, bufs, 0.3, momentum, 1e-3)
        for p, q in zip(ours, ref):
            torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-6, atol=1e-7)
    assert all(torch.isfinite(p).all() for p in ours)


@NEEDS_CXX
def test_compiled_lars_update_is_the_formula_and_compiles_once_for_every_learning_rate():
    """``LARS.compile_update``: the per-tensor formula up to rounding through a warmup + cosine
    schedule (the learning rate changes every step), with a zero weight and a zero gradient,
    from one compiled graph: the rate reaches it as a tensor, so no step recompiles."""
    from torch._dynamo.utils import counters

    from monorobust.train.optim import warmup_cosine

    torch._dynamo.reset()
    counters.clear()
    gen = torch.Generator().manual_seed(0)
    shapes = [(16, 8), (8,), (4, 3, 3, 3), (4,), (10, 16), (10,)]
    ours = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in shapes]
    ref = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    with torch.no_grad():
        ours[2].zero_(), ref[2].zero_()
    opt = LARS(ours, lr=0.3, weight_decay=1e-3)
    opt.compile_update()
    schedule, bufs, rates = warmup_cosine(opt, 2, 6), [None] * len(ref), set()
    for step in range(6):
        grads = [torch.randn(s, generator=gen) for s in shapes]
        if step == 1:
            grads[0].zero_()
        for p, q, g in zip(ours, ref, grads):
            p.grad, q.grad = g.clone(), g.clone()
        lr = opt.param_groups[0]["lr"]
        opt.step()
        _lars_per_tensor(ref, bufs, lr, 0.9, 1e-3)
        for p, q in zip(ours, ref):
            torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-5, atol=1e-6)
        schedule.step()
        rates.add(lr)
    assert len(rates) >= 4 and isinstance(opt.param_groups[0]["lr"], float)
    assert counters["stats"]["unique_graphs"] == 1 and counters["frames"]["ok"] == 1


@NEEDS_CXX
def test_compiled_lars_trains_like_the_eager_one(tmp_path, digits_images):
    """``pretrain.compile_optimizer`` (CPU here): the same losses as the eager update."""
    cfg = PretrainConfig(**{**TINY, "epochs": 1})
    eager = pretrain(digits_images, cfg, "ncl", 0, tmp_path / "eager", progress=False)
    fused = pretrain(digits_images, replace(cfg, compile_optimizer=True), "ncl", 0,
                     tmp_path / "fused", progress=False)
    assert torch.allclose(torch.tensor(fused.losses), torch.tensor(eager.losses), rtol=1e-4)
    assert fused.images_per_second > 0 and fused.steady_images_per_second is None   # 1 epoch
    with pytest.raises(ConfigError, match="compile_optimizer compiles LARS's update, but "
                                          "pretrain.optimizer is 'adamw'"):
        replace(cfg, optimizer="adamw", compile_optimizer=True)


@NEEDS_CXX
@pytest.mark.parametrize("channels", [3, 1])
def test_compiled_augmentation_gives_the_eager_views_from_one_graph(channels):
    """``augment.compiled_apply_view`` (``pretrain.compile_augment``): the views of
    ``simclr_views`` up to rounding, every transform in play, one pass and a pass each, from
    one compiled graph per batch shape whatever the draws (they are its inputs)."""
    from torch._dynamo.utils import counters

    from monorobust.train.augment import AugmentConfig, compiled_apply_view, simclr_views

    torch._dynamo.reset()
    compiled_apply_view.cache_clear()
    counters.clear()
    fused = compiled_apply_view("default")
    cfg = AugmentConfig(blur_p=0.5, grayscale_p=0.3)
    x = torch.rand(24, channels, 16, 16, generator=torch.Generator().manual_seed(0))
    for seed in (0, 1):
        for one_pass in (True, False):
            eager = simclr_views(x, cfg, torch.Generator().manual_seed(seed), one_pass=one_pass)
            views = simclr_views(x, cfg, torch.Generator().manual_seed(seed), one_pass=one_pass,
                                 apply_view=fused)
            for a, b in zip(views, eager, strict=True):
                torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
            assert not torch.equal(views[0], views[1])
    # Two shapes (a batch of 48 in one pass, of 24 a pass each): two graphs, never more.
    assert counters["stats"]["unique_graphs"] == 2


def test_compiled_augmentation_needs_the_compiled_model_and_follows_it():
    """``pretrain.compile_augment`` compiles in ``compile_mode`` with the model: refused
    without ``compile``, eager wherever ``compiled`` keeps the model eager."""
    from monorobust.train.pretrain import compiled, view_function

    with pytest.raises(ConfigError, match="pretrain.compile_augment compiles the augmentation "
                                          "with the model, .* set pretrain.compile=true"):
        PretrainConfig(compile_augment=True)
    model = torch.nn.Linear(2, 2)
    graphs = PretrainConfig(compile=True, compile_mode="reduce-overhead", compile_augment=True)
    assert view_function(graphs, model, compiled(model, graphs, "cpu")) is None     # eager here
    fused = replace(graphs, compile_mode="default")
    assert view_function(fused, model, compiled(model, fused, "cpu")) is not None
    assert view_function(replace(fused, compile_augment=False), model, object()) is None


def test_lars_step_is_a_few_multi_tensor_calls_whatever_the_number_of_tensors():
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        calls = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Count.calls += 1
            return func(*args, **(kwargs or {}))

    def calls(n_tensors: int) -> int:
        params = [torch.nn.Parameter(torch.randn(8, 8) if i % 2 else torch.randn(8))
                  for i in range(n_tensors)]
        opt = LARS(params, lr=0.1, weight_decay=1e-4)
        for p in params:
            p.grad = torch.randn_like(p)
        opt.step()                                            # momentum buffers made
        Count.calls = 0
        with Count():
            opt.step()
        return Count.calls

    few, many = calls(4), calls(64)
    assert many == few < 40, (few, many)       # a loop over tensors made ~25 calls per weight


def test_epoch_order_is_shared_and_augmentations_are_per_process():
    assert torch.equal(epoch_order(3, 1, 50), epoch_order(3, 1, 50))
    assert not torch.equal(epoch_order(3, 1, 50), epoch_order(3, 2, 50))
    cpu = torch.device("cpu")
    r0 = torch.rand(4, generator=augment_generator(3, 1, 0, cpu))
    assert torch.equal(r0, torch.rand(4, generator=augment_generator(3, 1, 0, cpu)))
    assert not torch.equal(r0, torch.rand(4, generator=augment_generator(3, 1, 1, cpu)))


class _Stream:
    """A dataset of uint8 (C, H, W) images: what a lazy image folder looks like to pretrain."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images, self.shape = images, images.shape

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


@pytest.fixture(scope="module")
def digits_images():
    return load_dataset("digits").train.images[:320]


@pytest.mark.parametrize("workers", [0, 2])
def test_streaming_gives_the_in_memory_weights(tmp_path, digits_images, workers):
    cfg = PretrainConfig(**TINY, loader_workers=workers)
    a = pretrain(digits_images, cfg, "cl", 0, tmp_path / "a", progress=False)
    b = pretrain(_Stream(digits_images), cfg, "cl", 0, tmp_path / "b",
                 progress=False)
    assert a.losses == b.losses
    for (k, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(x, y), k


def test_conv_channels_last_bf16_and_resume_guard(tmp_path, digits_images):
    cfg = PretrainConfig(**{**TINY, "encoder": "conv", "width": 4, "epochs": 1},
                         channels_last=True, precision="bf16-mixed")
    result = pretrain(digits_images, cfg, "ncl", 1, tmp_path, progress=False)
    assert len(result.losses) == 1 and torch.isfinite(torch.tensor(result.losses)).all()
    changed = PretrainConfig(**{**TINY, "encoder": "conv", "width": 4, "epochs": 1, "lr": 0.1},
                             channels_last=True, precision="bf16-mixed")
    with pytest.raises(ConfigError, match="differs in: lr"):
        pretrain(digits_images, changed, "ncl", 1, tmp_path, progress=False)


def test_sync_batchnorm_on_cpu_processes_is_refused():
    from types import SimpleNamespace

    fabric = SimpleNamespace(world_size=2, global_rank=0, device=torch.device("cpu"))
    cfg = PretrainConfig(**TINY, sync_batchnorm=True)
    with pytest.raises(ConfigError, match="sync_batchnorm needs CUDA"):
        pretrain(torch.zeros(256, 1, 8, 8, dtype=torch.uint8), cfg, "cl", 0, "/nonexistent", fabric)


@pytest.mark.parametrize("preset", ["cifar10", "cifar100", "imagenet100", "fmnist-resnet18"])
def test_paper_presets_follow_the_protocol(preset):
    cfg = load_config(preset)
    p = cfg.pretrain
    assert (p.encoder, p.proj_hidden, p.proj_dim, p.temperature) == ("resnet18", 16384, 2048, 0.2)
    assert p.optimizer == "lars" and p.precision == "bf16-mixed"
    assert p.augment.crop_scale == (0.08, 1.0) and p.augment.jitter == (0.8, 0.8, 0.8, 0.2)
    assert (p.augment.jitter_p, p.augment.grayscale_p, p.augment.blur_p) == (0.8, 0.2, 0.5)
    assert cfg.representations == ("cl", "ncl", "cl+sae")           # the paper's Figure 1
    assert (cfg.sae.width, cfg.sae.k) == (None, None)    # 2048 and 256 on the 2048-d projector
    probe = (cfg.probe.optimizer, cfg.probe.lr, cfg.probe.select)      # the authors' probes
    assert probe == (("sgd", 1.5, "last") if preset == "imagenet100" else ("lars", 0.4, "last"))
    # CUDA graphs where they were measured to pay (32 px, docs/scale.md); imagenet100 eager.
    graphs = (True, "reduce-overhead") if preset != "imagenet100" else (False, "default")
    assert (p.compile, p.compile_mode) == graphs
    if preset == "cifar100":
        assert (p.epochs, p.batch_size, p.lr) == (200, 256, 0.4)
    if preset == "imagenet100":
        assert (p.epochs, p.batch_size, cfg.data.image_size) == (100, 128, 224)


@NEEDS_CXX
def test_compiled_model_trains_like_the_eager_one_and_resumes_either_way(tmp_path, digits_images):
    """``pretrain.compile`` (inductor, CPU here) with ``compile_augment``: same losses, same
    checkpoint keys, and a compiled run killed in its second epoch resumes uncompiled (a
    speed-only change)."""
    cfg = PretrainConfig(**{**TINY, "optimizer": "adamw", "lr": 1e-3})
    eager = pretrain(digits_images, cfg, "ncl", 0, tmp_path / "eager", progress=False)
    compiled = PretrainConfig(**{**cfg.__dict__, "compile": True, "compile_augment": True})
    with pytest.raises(InterruptedError):
        pretrain(digits_images, compiled, "ncl", 0, tmp_path / "mixed", progress=False,
                 stop_after_steps=len(digits_images) // cfg.batch_size + 1)
    resumed = pretrain(digits_images, cfg, "ncl", 0, tmp_path / "mixed", progress=False)
    assert torch.allclose(torch.tensor(resumed.losses), torch.tensor(eager.losses), rtol=1e-4)
    a, b = eager.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()                      # no "_orig_mod." prefix in checkpoints
    # Fused kernels round differently and AdamW amplifies that in near-zero gradients, so the
    # weights are close rather than equal: far closer to each other than to where they started.
    start = build_model(cfg, tuple(digits_images.shape[1:]), *channel_stats(digits_images), 0)
    moved = sum(((a[k] - v) ** 2).sum() for k, v in start.state_dict().items()).sqrt()
    apart = sum(((a[k] - b[k]) ** 2).sum() for k in a).sqrt()
    assert apart < 0.01 * moved


def test_the_cudnn_autotuner_is_on_for_the_pretraining_only(tmp_path, digits_images,
                                                             monkeypatch):
    """``pretrain.cudnn_benchmark``: torch's flag is on for every step and as it was after,
    after a crash too; a run resumes with it off, and on a CPU its numbers are unchanged."""
    import importlib

    pretraining = importlib.import_module("monorobust.train.pretrain")   # the module
    seen, loss = [], pretraining.contrastive_loss

    def watched(*args, **kwargs):
        seen.append(torch.backends.cudnn.benchmark)
        return loss(*args, **kwargs)

    monkeypatch.setattr(pretraining, "contrastive_loss", watched)
    cfg, before = PretrainConfig(**TINY), torch.backends.cudnn.benchmark
    steps = len(digits_images) // cfg.batch_size
    with pytest.raises(InterruptedError):
        pretrain(digits_images, replace(cfg, cudnn_benchmark=True), "ncl", 0, tmp_path / "cut",
                 progress=False, stop_after_steps=steps + 2)
    assert seen == [True] * (steps + 2) and torch.backends.cudnn.benchmark == before
    seen.clear()
    resumed = pretrain(digits_images, cfg, "ncl", 0, tmp_path / "cut", progress=False)
    assert seen == [before] * steps                  # epoch 2 again, from its start
    plain = pretrain(digits_images, cfg, "ncl", 0, tmp_path / "plain", progress=False)
    assert resumed.losses == plain.losses


def test_cuda_graph_modes_train_eagerly_off_one_cuda_process():
    """reduce-overhead has nothing to replay on a CPU (compiling there would cost minutes for
    nothing), and is untested across processes: both train the model itself."""
    from monorobust.train.pretrain import compiled

    model = torch.nn.Linear(2, 2)
    graphs = PretrainConfig(compile=True, compile_mode="reduce-overhead")
    assert compiled(model, graphs, "cpu") is model
    with pytest.warns(UserWarning, match="tested in one process only; these 2 processes"):
        assert compiled(model, graphs, "cuda", world=2) is model
    assert compiled(model, replace(graphs, compile=False), "cuda") is model
    assert compiled(model, replace(graphs, compile_mode="default"), "cpu") is not model
