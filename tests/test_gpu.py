"""The CUDA paths at tiny size. Skipped without a GPU (as on CI); run them where one is lent:
``python3 -m pytest -q tests/test_gpu.py``. The same code runs on the CPU in the other tests.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from monorobust.cli import main
from monorobust.data import load_dataset
from monorobust.evaluate import train_probe
from monorobust.evaluate.config import ProbeConfig
from monorobust.train import PretrainConfig, load_pretrained, pretrain
from monorobust.train.augment import AugmentConfig, simclr_augment
from monorobust.train.checkpoint import latest_checkpoint

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

CUDA = torch.device("cuda")


def _fabric(precision: str):
    from lightning_fabric import Fabric

    return Fabric(accelerator="cuda", devices=1, precision=precision)


def test_augmentations_on_the_gpu_keep_shape_range_and_follow_the_generator():
    x = torch.rand(64, 3, 32, 32, device=CUDA)
    a = simclr_augment(x, AugmentConfig(), torch.Generator(device=CUDA).manual_seed(0))
    b = simclr_augment(x, AugmentConfig(), torch.Generator(device=CUDA).manual_seed(0))
    assert a.device.type == "cuda" and a.shape == x.shape
    assert a.min() >= 0 and a.max() <= 1 and torch.equal(a, b)


def test_both_views_in_one_pass_on_the_gpu_equal_a_pass_each():
    from monorobust.train.augment import simclr_views

    x = torch.rand(64, 3, 32, 32, device=CUDA)
    cfg = AugmentConfig()
    one = simclr_views(x, cfg, torch.Generator(device=CUDA).manual_seed(0), one_pass=True)
    each = simclr_views(x, cfg, torch.Generator(device=CUDA).manual_seed(0), one_pass=False)
    for a, b in zip(one, each, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)   # per-image ops, larger batch


def test_compile_augment_on_the_gpu_gives_the_eager_views():
    """``compiled_apply_view`` on CUDA, one pass as the loop runs it: the eager views up to
    rounding, with no host wait in either."""
    from monorobust.train.augment import compiled_apply_view, simclr_views

    x = torch.rand(64, 3, 32, 32, device=CUDA)
    cfg = AugmentConfig()
    fused = compiled_apply_view("default")
    simclr_views(x, cfg, torch.Generator(device=CUDA).manual_seed(1), apply_view=fused)  # compiles
    torch.cuda.set_sync_debug_mode("error")
    try:
        eager = simclr_views(x, cfg, torch.Generator(device=CUDA).manual_seed(0))
        views = simclr_views(x, cfg, torch.Generator(device=CUDA).manual_seed(0),
                             apply_view=fused)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    for a, b in zip(views, eager, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_bf16_channels_last_pretraining_resumes_and_reloads_on_the_cpu(tmp_path):
    images = load_dataset("digits").train.images[:512]
    cfg = PretrainConfig(encoder="conv", width=8, proj_hidden=64, proj_dim=32, epochs=2,
                         batch_size=64, optimizer="lars", lr=0.3, precision="bf16-mixed",
                         channels_last=True)
    full = pretrain(images, cfg, "ncl", 0, tmp_path / "full", _fabric(cfg.precision), False)
    with pytest.raises(InterruptedError):
        pretrain(images, cfg, "ncl", 0, tmp_path / "cut", _fabric(cfg.precision), False,
                 stop_after_steps=len(images) // cfg.batch_size + 2)
    resumed = pretrain(images, cfg, "ncl", 0, tmp_path / "cut", _fabric(cfg.precision), False)
    # cuDNN may pick non-deterministic kernels: equal up to rounding, not bit for bit.
    assert torch.allclose(torch.tensor(resumed.losses), torch.tensor(full.losses), rtol=1e-3)
    model = load_pretrained(latest_checkpoint(tmp_path / "cut"), tuple(images.shape[1:]))
    x = images[:8].float() / 255
    # fp32 on both sides: cuDNN's convolutions would otherwise round through TF32 (its default).
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        on_gpu = resumed.model.eval()(x.to(CUDA)).float().cpu()
    assert torch.allclose(model(x), on_gpu, atol=1e-4)
    assert resumed.images_per_second and resumed.images_per_second > 0


# The CUDA-graph tests' run: a small conv encoder in the presets' GPU settings, two epochs.
GRAPHS_RUN = PretrainConfig(encoder="conv", width=8, proj_hidden=64, proj_dim=32, epochs=2,
                            batch_size=64, optimizer="lars", lr=0.3, precision="bf16-mixed",
                            channels_last=True)


@pytest.fixture(scope="module")
def eager_run(tmp_path_factory):
    """(images, the eager run's result): what the CUDA-graph variants are compared with."""
    images = load_dataset("digits").train.images[:512]
    out = tmp_path_factory.mktemp("eager")
    return images, pretrain(images, GRAPHS_RUN, "ncl", 0, out, _fabric(GRAPHS_RUN.precision),
                            False)


def _trains_like(result, eager, images) -> None:
    """The same losses as the eager run up to rounding, and weights far closer to its than to
    where both started: on the CPU (bf16) the compiled update's weights were 0.006 of the eager
    run's movement from them, a no-op update's (lr 1e-12) 1.0, while its losses were within the
    2% the losses allow."""
    from monorobust.train.pretrain import build_model, channel_stats

    assert torch.allclose(torch.tensor(result.losses), torch.tensor(eager.losses), rtol=2e-2)
    # The weights, not the state dict: BatchNorm's running statistics move without any update.
    a, b = dict(eager.model.named_parameters()), dict(result.model.named_parameters())
    start = build_model(GRAPHS_RUN, tuple(images.shape[1:]), *channel_stats(images), 0)
    with torch.no_grad():
        moved = sum(((a[k].cpu() - v) ** 2).sum() for k, v in start.named_parameters())
        apart = sum(((a[k] - b[k]).cpu() ** 2).sum() for k in a)
    assert apart.sqrt() < 0.5 * moved.sqrt()


def test_cuda_graphs_train_like_the_eager_model_and_resume_either_way(tmp_path, eager_run):
    """``pretrain.compile_mode: reduce-overhead`` (torch.compile's CUDA graphs): the same losses
    as eager up to rounding, and a compiled run cut in its second epoch resumes eagerly."""
    images, eager = eager_run
    cfg = GRAPHS_RUN
    graphs = replace(cfg, compile=True, compile_mode="reduce-overhead")
    compiled = pretrain(images, graphs, "ncl", 0, tmp_path / "graphs", _fabric(cfg.precision),
                        False)
    _trains_like(compiled, eager, images)
    with pytest.raises(InterruptedError):
        pretrain(images, graphs, "ncl", 0, tmp_path / "cut", _fabric(cfg.precision), False,
                 stop_after_steps=len(images) // cfg.batch_size + 2)
    resumed = pretrain(images, cfg, "ncl", 0, tmp_path / "cut", _fabric(cfg.precision), False)
    assert torch.allclose(torch.tensor(resumed.losses), torch.tensor(eager.losses), rtol=2e-2)
    assert resumed.model.state_dict().keys() == eager.model.state_dict().keys()


@pytest.mark.parametrize("option", ["compile_optimizer", "compile_augment", "cudnn_benchmark"])
def test_a_speed_option_under_cuda_graphs_trains_like_the_eager_step(option, tmp_path,
                                                                     eager_run):
    """``pretrain.compile_optimizer`` (LARS's update), ``pretrain.compile_augment`` (the
    augmentation's transforms) or ``pretrain.cudnn_benchmark`` (cuDNN's autotuner, whose
    timing runs must stay out of the captured graphs) with the model under CUDA graphs: the
    same losses, and weights near the eager run's; the autotuner is off again after."""
    images, eager = eager_run
    fused = replace(GRAPHS_RUN, compile=True, compile_mode="reduce-overhead", **{option: True})
    before = torch.backends.cudnn.benchmark
    both = pretrain(images, fused, "ncl", 0, tmp_path / "fused", _fabric(fused.precision), False)
    _trains_like(both, eager, images)
    assert torch.backends.cudnn.benchmark == before


def test_probe_on_the_gpu_agrees_with_the_cpu():
    gen = torch.Generator().manual_seed(0)
    centers = torch.randn(5, 32, generator=gen) * 3
    y = torch.arange(600) % 5
    x = centers[y] + torch.randn(600, 32, generator=gen)
    cfg = ProbeConfig(steps=200, batch_size=128, lr=0.01, eval_every=50)
    cpu = train_probe(x[:400], y[:400], x[400:], y[400:], 5, cfg, seed=0)
    gpu = train_probe(x[:400].to(CUDA), y[:400].to(CUDA), x[400:].to(CUDA), y[400:].to(CUDA),
                      5, cfg, seed=0)
    assert gpu.weight.device.type == "cuda"
    assert abs(cpu.val_accuracy - gpu.val_accuracy) <= 0.02


def test_smoke_run_on_the_gpu_writes_every_row(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "--preset", "smoke", "--device", "cuda", "--seeds", "0", "--out", str(out),
                 "--quiet", "--no-report"]) == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    clean = [r["accuracy"] for r in rows if r["scenario"] == "clean"]
    assert clean and all(acc > 0.7 for acc in clean)             # as on the CPU; chance is 0.1
    assert all(abs(r["accuracy"] * r["n_test"] - round(r["accuracy"] * r["n_test"])) < 1e-6
               for r in rows)                                    # a share of its test images
    assert json.loads((out / "run.json").read_text())["cuda"]


@pytest.mark.parametrize("compiled", [False, True], ids=["multi-tensor", "compile_optimizer"])
def test_lars_step_on_the_gpu_equals_the_per_tensor_formula(compiled):
    from test_scale_train import _lars_per_tensor

    from monorobust.train.optim import LARS

    gen = torch.Generator().manual_seed(0)
    shapes = [(64, 32), (32,), (16, 3, 3, 3), (16,), (10, 64)]
    ours = [torch.nn.Parameter(torch.randn(s, generator=gen).to(CUDA)) for s in shapes]
    ref = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    opt, bufs = LARS(ours, lr=0.3, weight_decay=1e-3), [None] * len(ref)
    if compiled:
        opt.compile_update()
    for lr in (0.3, 0.2, 0.1):
        opt.param_groups[0]["lr"] = lr
        for p, q in zip(ours, ref):
            p.grad = torch.randn(p.shape, generator=gen).to(CUDA)
            q.grad = p.grad.clone()
        opt.step()
        _lars_per_tensor(ref, bufs, lr, 0.9, 1e-3)
    for p, q in zip(ours, ref):                 # the GPU's multi-tensor norms round differently
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-5, atol=1e-6)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")     # the learning rate reaches the device unwaited
    try:
        opt.step()
    finally:
        torch.cuda.set_sync_debug_mode(0)


def test_sae_trains_on_the_gpu_and_maps_back_to_the_cpu(tmp_path):
    from monorobust.sae import SAEConfig, fit_cached
    from monorobust.sae.train import train_sae

    gen = torch.Generator().manual_seed(0)
    atoms = torch.randn(48, 32, generator=gen)
    codes = torch.rand(3000, 48, generator=gen) * (torch.rand(3000, 48, generator=gen) < 0.1)
    x = codes @ atoms
    cfg = SAEConfig(width=96, k=8, epochs=15, batch_size=256, lr=4e-3)
    cpu = train_sae(x, cfg, seed=0)
    gpu = train_sae(x, cfg, seed=0, device=CUDA)
    assert gpu.model.W_enc.device.type == "cuda"
    assert gpu.stats.fvu < 0.5 and abs(gpu.stats.fvu - cpu.stats.fvu) < 0.05, (gpu.stats, cpu.stats)
    fmap = fit_cached(x, cfg, 0, tmp_path, device=CUDA)          # trains, caches, maps
    latents = fmap(x[:100])
    assert latents.device.type == "cpu" and latents.min() >= 0
    assert int((latents > 0).sum(1).max()) <= cfg.k
    again = fit_cached(x, cfg, 0, tmp_path, device=CUDA)(x[:100])    # reloaded from the cache
    torch.testing.assert_close(again, latents)


def test_a_streamed_image_folder_pretrains_on_the_gpu(tmp_path, monkeypatch):
    """The imagenet100 preset's path: DataLoader workers decode, pinned batches go to the GPU."""
    import math

    from test_folder_dataset import write_folder

    from monorobust.data import image_folder

    root = write_folder(tmp_path / "d", n_train=20)
    monkeypatch.setattr(image_folder, "CACHE_LIMIT_BYTES", 20 * 3 * 16 * 16)   # stream it
    images = load_dataset("folder", root, image_size=16).train.images
    assert not isinstance(images, torch.Tensor)
    cfg = PretrainConfig(encoder="resnet18", width=8, proj_hidden=32, proj_dim=16, epochs=2,
                         batch_size=16, optimizer="lars", lr=0.3, precision="bf16-mixed",
                         channels_last=True, loader_workers=2)
    result = pretrain(images, cfg, "ncl", 0, tmp_path / "ck", _fabric(cfg.precision), False)
    assert len(result.losses) == 2 and all(math.isfinite(v) for v in result.losses)
    assert next(result.model.parameters()).device.type == "cuda"


def test_pretraining_sae_and_probe_steps_never_make_the_host_wait(tmp_path):
    """No ``.item()``, host copy or data-dependent shape per step: the host keeps queueing
    kernels while the GPU runs (checked by ``torch.cuda.set_sync_debug_mode``)."""
    roofline = _benchmark_module("roofline")
    loops = roofline.training_loops("cuda", tmp_path)
    assert roofline.host_syncs_per_step(loops["pretrain"], 4) == 0
    assert roofline.host_syncs_per_step(loops["sae"], 4) == 0
    assert roofline.host_syncs_per_step(loops["probes"], 4) == 0


def _benchmark_module(name: str):
    import importlib
    import sys
    from pathlib import Path

    folder = str(Path(__file__).resolve().parent.parent / "benchmarks")
    sys.path.insert(0, folder)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(folder)
