"""TopK sparse autoencoder: the model's equations, training invariants, checkpoints, cache."""

import pytest
import torch

from monorobust.errors import ConfigError
from monorobust.sae import (
    SAEConfig, TopKSAE, evaluate_sae, fit_cached, load_sae, normalized_mse, preprocess,
    save_sae, train_sae,
)



def low_rank(n=1024, d=16, rank=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, rank, generator=g) @ torch.randn(rank, d, generator=g)


def test_topk_keeps_exactly_k_nonnegative_latents():
    sae = TopKSAE(16, 32, k=5, generator=torch.Generator().manual_seed(0))
    h = torch.randn(200, 16)
    with torch.no_grad():
        sae.b_lat.fill_(10.0)                       # every pre-activation positive
    lat = sae.encode(h)
    assert (lat >= 0).all()
    assert ((lat > 0).sum(1) == 5).all()            # exactly k survive
    vals, idx = sae.encode_sparse(h)
    assert vals.shape == idx.shape == (200, 5)
    assert all(len(set(row.tolist())) == 5 for row in idx)
    # the survivors are the k largest pre-activations
    top = sae.preacts(h).topk(5, dim=1).indices.sort(1).values
    assert torch.equal(idx.sort(1).values, top)


def test_topk_with_negative_preacts_keeps_at_most_k_and_relu_cuts():
    sae = TopKSAE(16, 32, k=8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        sae.b_lat.fill_(-10.0)                      # every pre-activation negative
    lat = sae.encode(torch.randn(50, 16))
    assert (lat == 0).all()


def test_fused_backward_matches_autograd():
    torch.manual_seed(0)
    sae = TopKSAE(12, 24, k=4).double()
    h = torch.randn(30, 12, dtype=torch.double)
    out = sae(h)
    out.loss.backward()
    recon = out.recon
    fused = {n: p.grad.clone() for n, p in sae.named_parameters()}
    sae.zero_grad()
    pre = (h - sae.b_pre) @ sae.W_enc.T + sae.b_lat
    v, i = pre.topk(4, dim=1)
    ref = torch.zeros_like(pre).scatter(1, i, v.relu()) @ sae.W_dec.T + sae.b_pre
    assert torch.allclose(ref, recon)
    loss = normalized_mse(ref, h)
    assert torch.allclose(loss, out.loss)
    loss.backward()
    for n, p in sae.named_parameters():
        assert torch.allclose(fused[n], p.grad, atol=1e-12), n


def test_decoder_columns_unit_norm_after_a_step():
    result = train_sae(torch.randn(256, 16), SAEConfig(width=32, k=4, steps=1, batch_size=64,
                                                       lr=0.5, warmup_steps=0), seed=0)
    norms = result.model.W_dec.norm(dim=0)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)


def test_gradient_parallel_to_decoder_columns_is_removed():
    sae = TopKSAE(8, 16, k=3, generator=torch.Generator().manual_seed(0))
    sae.W_dec.grad = torch.randn(8, 16)
    sae.project_decoder_grad_()
    assert (sae.W_dec.grad * sae.W_dec).sum(0).abs().max() < 1e-5


def test_fvu_near_zero_when_k_equals_width_on_low_rank_data():
    x = low_rank()
    cfg = SAEConfig(width=16, k=16, lr=1e-2, batch_size=128, steps=400, warmup_steps=10)
    result = train_sae(x, cfg, seed=0)
    assert result.stats.fvu < 0.01
    assert result.stats.mean_l0 <= 16


def test_sparse_sae_reports_l0_dead_and_fvu_consistently():
    x = low_rank(n=512, d=16, rank=8)
    cfg = SAEConfig(width=64, k=4, batch_size=64, steps=60, aux_k=16, dead_threshold=200)
    result = train_sae(x, cfg, seed=0)
    s = result.stats
    assert 0 < s.mean_l0 <= 4
    latents = result.model.encode(preprocess(x, cfg))
    assert s.dead_fraction == float(((latents > 0).sum(0) == 0).double().mean())   # never fire on x
    assert (result.tracked_dead_fraction * 64) % 1 == 0         # a count of the 64 latents
    assert 0 < s.fvu < 1
    assert s == evaluate_sae(result.model, x, cfg=cfg)
    assert result.samples == 60 * 64 and result.samples_per_second > 0


def test_auxk_gives_dead_latents_a_gradient():
    from monorobust.sae.train import _auxk

    sae = TopKSAE(8, 16, k=2, generator=torch.Generator().manual_seed(0))
    x = torch.randn(32, 8)
    dead = torch.zeros(16, dtype=torch.bool)
    dead[:5] = True
    _auxk(sae, x, sae(x).recon, dead, aux_k=3).backward()
    assert sae.W_enc.grad[:5].abs().sum() > 0
    assert sae.W_enc.grad[5:].abs().sum() == 0


@pytest.mark.parametrize("n_dead", [0, 2, 5, 16])
def test_auxk_without_host_reads_equals_auxk_on_the_dead_latents(n_dead):
    """The GPU's AuxK (no read of the dead mask) gives the CPU's loss and gradients: fewer dead
    latents than aux_k (2), more (5), all (16), and none (0: no loss, no gradient)."""
    from monorobust.sae.train import _auxk, _auxk_masked

    x = torch.randn(32, 8, generator=torch.Generator().manual_seed(1))
    dead = torch.zeros(16, dtype=torch.bool)
    dead[torch.randperm(16, generator=torch.Generator().manual_seed(2))[:n_dead]] = True
    grads = []
    for auxk in (_auxk, _auxk_masked):
        sae = TopKSAE(8, 16, k=2, generator=torch.Generator().manual_seed(0))
        loss = auxk(sae, x, sae(x).recon, dead, aux_k=3) if n_dead or auxk is _auxk_masked \
            else torch.zeros(())
        if loss.requires_grad:
            loss.backward()
        grads.append((loss.detach(), [p.grad if p.grad is not None else torch.zeros_like(p)
                                      for p in sae.parameters()]))
    (a, ga), (b, gb) = grads
    assert torch.allclose(a, b, atol=1e-6) and (n_dead == 0) == (float(b) == 0)
    for p, q in zip(ga, gb):
        assert torch.allclose(p, q, atol=1e-6)
        assert torch.isfinite(q).all()


def test_sae_step_off_the_cpu_never_reads_a_tensor_on_the_host(monkeypatch):
    """A step on a GPU queues its kernels and returns: nothing in it reads a value back (an
    ``.item()``, a ``bool(tensor)``, a data-dependent shape), counted here by dispatch on the CPU
    with the GPU's code path; a run reads its losses once an epoch."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from monorobust.sae import train as sae_train

    reads = []

    class Reads(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func.__name__.split(".")[0] in ("_local_scalar_dense", "nonzero", "is_nonzero",
                                                "masked_select", "item"):
                reads.append(func.__name__)
            return func(*args, **(kwargs or {}))

    monkeypatch.setattr(sae_train, "_host_reads_free", lambda device: False)
    cfg = SAEConfig(width=16, k=2, aux_k=4, batch_size=32, dead_threshold=1)
    sae = TopKSAE(8, 16, k=2, generator=torch.Generator().manual_seed(0))
    opt = sae_train.make_optimizer(sae, cfg)
    since = torch.full((16,), 10, dtype=torch.long)                 # every latent dead so far
    x = torch.randn(32, 8, generator=torch.Generator().manual_seed(1))
    with Reads():
        for step in range(3):
            sae_train.sae_step(sae, opt, x, since, step, cfg)
    assert reads == []
    monkeypatch.undo()
    with Reads():
        sae_train.sae_step(sae, opt, x, since, 3, cfg)
    assert reads                                                   # the counter sees the CPU's


def test_auxk_loss_is_openais_batch_normalised_mse():
    """openai/sparse_autoencoder's AuxK: normalized_mse(decode_sparse(aux) , x - recon + b_pre),
    i.e. mse(e_hat + b, e + b) / mse(mean(e + b), e + b): the batch's squared error over the
    batch's variance of the residual e, not a mean of per-sample ratios (which a sample whose
    residual is small would dominate)."""
    from monorobust.sae import auxk_loss

    g = torch.Generator().manual_seed(0)
    e = torch.randn(64, 8, generator=g)
    e[0] *= 1e-3                                    # one sample reconstructed almost exactly
    e_hat = torch.randn(64, 8, generator=g)
    b_pre = torch.randn(8, generator=g)
    xs, recon = e + b_pre, e_hat + b_pre
    mse = lambda a, b: (a - b).pow(2).mean()        # noqa: E731
    openai = mse(recon, xs) / mse(xs.mean(0, keepdim=True).expand_as(xs), xs)
    assert auxk_loss(e_hat, e).item() == pytest.approx(openai.item(), rel=1e-5)
    assert auxk_loss(e_hat, e.mean(0, keepdim=True).expand_as(e)).item() == 0.0  # no variance


def test_the_memory_bound_counts_every_parameter_adam_trains():
    """``SAEConfig.training_bytes``: the features, then the SAE's parameters, their gradients
    and Adam's two moments (fp32), counted against a real TopKSAE."""
    d, width, n = 12, 40, 100
    model = TopKSAE(d, width, 5)
    params = sum(p.numel() for p in model.parameters())
    assert SAEConfig(width=width).training_bytes(d, n) == 4 * (n * d + 4 * params)
    assert SAEConfig().training_bytes(d, n) == 4 * (n * d + 4 * (2 * d * d + 2 * d))  # width d


def test_same_seed_same_sae():
    x = low_rank(n=256)
    cfg = SAEConfig(width=16, k=4, batch_size=32, steps=20)
    a, b = train_sae(x, cfg, seed=3), train_sae(x, cfg, seed=3)
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(p, q)
    assert not torch.equal(a.model.W_dec, train_sae(x, cfg, seed=4).model.W_dec)


def test_input_is_l2_normalised():
    x = torch.randn(10, 4) * 7
    assert torch.allclose(preprocess(x, SAEConfig(width=4, k=2)).norm(dim=1), torch.ones(10))
    assert torch.equal(preprocess(x, SAEConfig(width=4, k=2, normalize_input=False)), x)


def test_checkpoint_describes_itself_and_round_trips(tmp_path):
    x = low_rank(n=128)
    cfg = SAEConfig(width=16, k=4, batch_size=32, steps=5)
    result = train_sae(x, cfg, seed=0)
    save_sae(tmp_path / "sae.safetensors", result, cfg, {"seed": 0})
    model, cfg2, meta = load_sae(tmp_path / "sae.safetensors")
    assert cfg2 == cfg and meta["k"] == 4 and "TopK" in meta["model"]
    assert meta["stats"]["fvu"] == pytest.approx(result.stats.fvu)
    h = preprocess(x, cfg)
    assert torch.equal(model.encode(h), result.model.encode(h))
    assert (tmp_path / "sae.json").exists()


def test_fit_cached_reuses_the_trained_sae(tmp_path, monkeypatch):
    import monorobust.sae.cache as cache

    x = low_rank(n=128)
    cfg = SAEConfig(width=16, k=4, batch_size=32, steps=5)
    fmap = fit_cached(x, cfg, 0, tmp_path)
    monkeypatch.setattr(cache, "train_sae", lambda *a, **k: pytest.fail("retrained"))
    assert torch.equal(fit_cached(x, cfg, 0, tmp_path)(x), fmap(x))
    monkeypatch.undo()
    fit_cached(x, SAEConfig(width=16, k=2, batch_size=32, steps=5), 0, tmp_path)   # new config: retrains
    assert load_sae(tmp_path / "sae.safetensors")[1].k == 2


@pytest.mark.parametrize("bad, key", [({"k": 9, "width": 8}, "sae.k"), ({"width": 0}, "sae.width"),
                                      ({"aux_k": 0}, "sae.aux_k"), ({"lr": 0.0}, "sae.lr"),
                                      ({"steps": 0}, "sae.steps")])
def test_config_errors_name_the_key(bad, key):
    with pytest.raises(ConfigError, match=key):
        SAEConfig(**bad)


def test_nan_features_are_refused():
    x = torch.randn(10, 4)
    x[3, 1] = float("nan")
    with pytest.raises(ConfigError, match="NaN"):
        train_sae(x, SAEConfig(width=4, k=2, steps=1), seed=0)


def test_cl_sae_is_a_default_representation():
    from monorobust.config import RunConfig, load_config
    from monorobust.evaluate import REPRESENTATIONS

    rep = REPRESENTATIONS.get("cl+sae")
    assert rep.objective == "cl" and rep.monosemantic
    assert "cl+sae" in RunConfig().representations
    for preset in ("quick", "smoke"):
        cfg = load_config(preset)
        width, k = cfg.sae.resolve(cfg.pretrain.proj_dim)
        assert "cl+sae" in cfg.representations and 1 <= k <= width


def test_null_width_and_k_follow_the_input_like_the_paper():
    assert SAEConfig().resolve(2048) == (2048, 256)
    assert SAEConfig(width=64).resolve(16) == (64, 8)
    with pytest.raises(ConfigError, match="sae.k"):
        SAEConfig(k=40).resolve(32)


def test_sae_command_on_a_feature_file(tmp_path, capsys):
    import numpy as np

    from monorobust.cli import main

    np.save(tmp_path / "f.npy", low_rank(n=300).numpy())
    code = main(["sae", "--features", str(tmp_path / "f.npy"), "--test-features",
                 str(tmp_path / "f.npy"), "--out", str(tmp_path / "sae"), "--width", "16", "--k",
                 "4", "--steps", "20", "--batch-size", "64", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "FVU" in out and "test" in out
    _, cfg, meta = load_sae(tmp_path / "sae" / "sae-seed0.safetensors")
    assert cfg.k == 4 and 0 <= meta["test_stats"]["fvu"] < 1


def test_sae_command_errors_before_work(tmp_path, capsys):
    from monorobust.cli import main

    assert main(["sae", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert main(["sae"]) == 2


def test_sae_command_refuses_an_unfinished_encoder(tmp_path, capsys):
    from monorobust.cli import main
    from monorobust.config import load_config
    from monorobust.rundir import RunDir
    from monorobust.train.checkpoint import checkpoint_path, save_checkpoint

    run = RunDir(tmp_path)
    run.write_config(load_config("smoke", {"out": str(tmp_path)}))
    path = checkpoint_path(run.checkpoints("cl", 0), 1)            # 1 of the smoke's 3 epochs
    path.parent.mkdir(parents=True)
    save_checkpoint(path, {"model": {"w": torch.zeros(1)}}, {"epoch": 1})
    assert main(["sae", str(tmp_path), "--seeds", "0", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "the cl encoder of seed 0 has trained 1 of 3 epochs" in err and "finish its pretraining" in err
    assert not run.sae.exists()


def test_features_without_variance_are_refused(tmp_path, capsys):
    """FVU is undefined when every row is the same: it read 0.0 (perfect) on all-zero features
    with every latent dead, and ~1e31 on a constant test set."""
    import numpy as np

    from monorobust.cli import main

    cfg = SAEConfig(width=8, k=2, steps=1)
    with pytest.raises(ConfigError, match="SAE input has no variance: all 10 rows are the same"):
        train_sae(torch.zeros(10, 4), cfg, seed=0)
    with pytest.raises(ConfigError, match="after L2 normalisation"):    # rows x and 2x
        train_sae(torch.tensor([[1.0, 2.0], [2.0, 4.0]]), SAEConfig(width=4, k=2, steps=1), 0)
    model = train_sae(low_rank(n=64), cfg, seed=0).model
    with pytest.raises(ConfigError, match="no variance"):
        evaluate_sae(model, torch.ones(5, 16), cfg=cfg)
    np.save(tmp_path / "zero.npy", np.zeros((50, 8), np.float32))
    np.save(tmp_path / "f.npy", low_rank(n=50, d=8).numpy())
    for train, test in (("zero", "f"), ("f", "zero")):
        assert main(["sae", "--features", str(tmp_path / f"{train}.npy"), "--test-features",
                     str(tmp_path / f"{test}.npy"), "--out", str(tmp_path / "sae"), "--quiet"]) == 2
        flag = "--features" if train == "zero" else "--test-features"
        assert f"{flag} has no variance" in capsys.readouterr().err
    assert not (tmp_path / "sae" / "sae-seed0.safetensors").exists()


def test_a_diverged_sae_is_an_error_not_a_checkpoint_of_nans():
    with pytest.raises(ConfigError, match=r"the SAE diverged: its loss is nan at step \d+ of 20 "
                                          r"\(sae.lr 1e\+30\); lower sae.lr"):
        train_sae(low_rank(n=256), SAEConfig(width=16, k=4, batch_size=32, steps=20, lr=1e30),
                  seed=0)


def test_sae_command_into_an_out_folder_in_use_is_refused(tmp_path, capsys):
    """``sae RUN --out OTHER`` held only RUN's lock: a second sae of another run into OTHER
    overwrote its checkpoints."""
    from monorobust.cli import main
    from monorobust.config import load_config
    from monorobust.lock import hold_folder
    from monorobust.rundir import RunDir
    from monorobust.train.checkpoint import checkpoint_path, save_checkpoint

    run = RunDir(tmp_path / "run")
    run.write_config(load_config("smoke", {"out": str(run.root)}))
    path = checkpoint_path(run.checkpoints("cl", 0), 3)                # "finished"
    path.parent.mkdir(parents=True)
    save_checkpoint(path, {"model": {"w": torch.zeros(1)}}, {"epoch": 3})
    other = tmp_path / "other"
    with hold_folder(other, "sae"):
        assert main(["sae", str(run.root), "--out", str(other), "--seeds", "0", "--quiet"]) == 2
    assert f"{other} is in use by process" in capsys.readouterr().err
    assert not list(other.glob("sae-*"))
