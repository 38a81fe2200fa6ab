"""Distributed NT-Xent on CPU with two gloo processes equals NT-Xent on one process.

Each process holds half of a global batch; negatives are gathered from both with the autograd
all-gather (``train.distributed.gather_with_grad``). The mean of the two processes' losses must
equal the one-process loss on the whole batch, and, after DDP averages the gradients, a model's
parameter gradients must equal the one-process gradients.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
import pytest
from safetensors.torch import load_file, save_file

from monorobust.objectives import nt_xent
from monorobust.train.distributed import gather_with_grad

WORLD, N, D_IN, D = 2, 6, 10, 8          # per-process batch N, global batch WORLD * N


def _inputs():
    gen = torch.Generator().manual_seed(0)
    x1, x2 = torch.randn(WORLD * N, D_IN, generator=gen), torch.randn(WORLD * N, D_IN, generator=gen)
    model = torch.nn.Linear(D_IN, D)
    with torch.no_grad():
        model.weight.copy_(torch.randn(D, D_IN, generator=gen))
        model.bias.copy_(torch.randn(D, generator=gen))
    return x1, x2, model


def _loss(model, x1, x2, gather=None):
    z1, z2 = F.normalize(model(x1), dim=1), F.normalize(model(x2), dim=1)
    return nt_xent(z1, z2, temperature=0.2, gather=gather), z1, z2


def _worker(rank: int, out: str) -> None:
    # A file store, not a TCP port picked in advance: no race with other jobs for the port.
    dist.init_process_group("gloo", init_method=f"file://{os.path.join(out, 'store')}",
                            rank=rank, world_size=WORLD)
    try:
        torch.set_num_threads(1)
        x1, x2, model = _inputs()
        rows = slice(rank * N, (rank + 1) * N)
        # 1) the loss's gradient with respect to this process's embeddings
        e1 = F.normalize(model(x1[rows]), dim=1).detach().requires_grad_()
        e2 = F.normalize(model(x2[rows]), dim=1).detach().requires_grad_()
        loss = nt_xent(e1, e2, temperature=0.2, gather=gather_with_grad)
        loss.backward()
        # 2) a DDP model's parameter gradients (DDP averages them over the processes)
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        ddp_loss, _, _ = _loss(ddp, x1[rows], x2[rows], gather=gather_with_grad)
        ddp_loss.backward()
        mean_loss = loss.detach().clone()
        dist.all_reduce(mean_loss)
        done = os.path.join(out, f"rank{rank}.safetensors")
        save_file({"loss": (mean_loss / WORLD).reshape(1), "g1": e1.grad, "g2": e2.grad,
                   "weight": model.weight.grad, "bias": model.bias.grad}, done + ".tmp")
        os.replace(done + ".tmp", done)                 # whole, or not there
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_distributed_ntxent_matches_single_process(tmp_path):
    # Starting two processes and their process group can fail for reasons outside the code under
    # test (a slow start on a loaded machine), and gloo's teardown at exit now and then aborts a
    # process that has written its results ("terminate called without an active exception"):
    # results written whole by every process are used; otherwise retry in a fresh folder, up to
    # three times. The comparisons below run in this process and are never retried.
    for attempt in range(3):
        out = tmp_path / f"attempt{attempt}"
        out.mkdir()
        try:
            mp.spawn(_worker, args=(str(out),), nprocs=WORLD, join=True)
            break
        except (mp.ProcessRaisedException, mp.ProcessExitedException):
            if all((out / f"rank{r}.safetensors").exists() for r in range(WORLD)):
                break
            if attempt == 2:
                raise
    ranks = [load_file(out / f"rank{r}.safetensors") for r in range(WORLD)]

    x1, x2, model = _inputs()
    loss, z1, z2 = _loss(model, x1, x2)
    e1, e2 = z1.detach().requires_grad_(), z2.detach().requires_grad_()
    nt_xent(e1, e2, temperature=0.2).backward()
    loss.backward()

    for r, got in enumerate(ranks):
        torch.testing.assert_close(got["loss"][0], loss.detach(), rtol=1e-6, atol=1e-6)
        rows = slice(r * N, (r + 1) * N)
        # Each process's loss is a mean over its own 2N views: the global mean is their average,
        # so the gradient a process receives is WORLD times its share of the global gradient.
        torch.testing.assert_close(got["g1"] / WORLD, e1.grad[rows], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(got["g2"] / WORLD, e2.grad[rows], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(got["weight"], model.weight.grad, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(got["bias"], model.bias.grad, rtol=1e-5, atol=1e-7)


def test_gather_is_identity_without_process_group():
    z = torch.randn(3, 4)
    assert gather_with_grad(z) is z


@pytest.mark.slow
def test_two_process_run_from_the_cli_writes_every_row_once(tmp_path):
    """``monorobust run --devices 2`` on CPU: Fabric starts a second process (gloo DDP), both
    pretrain on halves of each global batch, only rank 0 evaluates and writes."""
    import json
    import subprocess
    import sys

    from monorobust.config import load_config
    from monorobust.evaluate import grid_points
    from monorobust.io import read_jsonl

    cmd = [sys.executable, "-m", "monorobust", "run", "--preset", "smoke", "--devices", "2",
           "--seeds", "0", "--representations", "cl", "ncl", "--out", str(tmp_path), "--quiet",
           "--no-report"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    cfg = load_config(str(tmp_path / "config.yaml"))
    keys = [(r["representation"], r["scenario"], r["severity"], r["seed"])
            for r in read_jsonl(tmp_path / "results.jsonl")]
    assert len(keys) == len(set(keys)) == 2 * len(grid_points(cfg.grid))
    assert json.loads((tmp_path / "run.json").read_text())["processes"] == 2
    for objective in ("cl", "ncl"):
        folder = tmp_path / "checkpoints" / f"{objective}-seed0"           # also holds logs/
        saved = sorted(p.name for p in folder.glob("epoch-*.safetensors"))
        assert saved[-1] == f"epoch-{cfg.pretrain.epochs:04d}.safetensors"


@pytest.mark.slow
def test_two_process_finetune_writes_every_row_once(tmp_path):
    """``monorobust finetune --devices 2``: both processes pretrain the missing encoder, only
    rank 0 fine-tunes and writes (each row twice read as n=2, std 0)."""
    import subprocess
    import sys

    from monorobust.io import read_jsonl

    cmd = [sys.executable, "-m", "monorobust", "finetune", "--preset", "smoke", "--devices", "2",
           "--seeds", "0", "--epochs", "1",
           "--out", str(tmp_path), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    keys = [(r["objective"], r["head"], r["scenario"], r["severity"], r["seed"])
            for r in read_jsonl(tmp_path / "finetune.jsonl")]
    assert len(keys) == len(set(keys)) == 2 * 2 * 3      # objectives x heads x settings


@pytest.mark.slow
def test_a_process_killed_mid_run_leaves_one_error_line_and_a_run_that_resumes(tmp_path):
    """kill -9 of the second process of ``pretrain --devices 2``: rank 0's collective fails;
    it says so in one line (not gloo's traceback) and exits, and the rerun finishes the run
    from the checkpoints the first one kept."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    cmd = [sys.executable, "-m", "monorobust", "pretrain", "--preset", "smoke", "--devices", "2",
           "--seeds", "0", "--out", str(tmp_path), "--quiet", "--set", "pretrain.epochs=100"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    folder = tmp_path / "checkpoints" / "cl-seed0"
    deadline = time.monotonic() + 300
    while not list(folder.glob("epoch-*.safetensors")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.2)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    ranks = [int(c) for c in children
             if "monorobust" in Path(f"/proc/{c}/cmdline").read_text(errors="replace")]
    assert len(ranks) == 1, children                                 # Fabric's rank 1
    os.kill(ranks[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err[-3000:]
    assert errors[0].startswith("error: another process of this run stopped ("), err[-3000:]
    kept = sorted(folder.glob("epoch-*.safetensors"))
    assert kept and kept[-1].name < "epoch-0100.safetensors"
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(folder.glob("epoch-*.safetensors"))[-1].name == "epoch-0100.safetensors"
