"""Preemption: SIGKILL a pretraining run mid-epoch, rerun the same command, get the same weights.

The kill lands after at least one per-epoch checkpoint exists, while a later epoch is running.
The rerun resumes from the last checkpoint (model, optimiser, scheduler, epoch); the shuffling
and augmentations of each epoch come from generators seeded by (seed, epoch[, rank]), so no RNG
state is saved and none is needed: the final weights equal an uninterrupted run's, bit for bit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from monorobust.train.checkpoint import latest_checkpoint, load_checkpoint

EPOCHS = 3


def _command(out: Path) -> list[str]:
    # digits, mlp: ~70 small steps per epoch, so an epoch lasts long enough to be cut in two.
    return [sys.executable, "-m", "monorobust.cli", "pretrain", "--preset", "smoke", "--out", str(out),
            "--seeds", "0", "--quiet", "--set", f"pretrain.epochs={EPOCHS}",
            "--set", "pretrain.batch_size=16", "--set", "pretrain.optimizer=lars",
            "--set", "pretrain.lr=0.3"]


def _env() -> dict[str, str]:
    # The same thread count in every run keeps CPU reductions in the same order.
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="0")


def _final(out: Path) -> tuple[dict, dict]:
    path = latest_checkpoint(out / "checkpoints" / "cl-seed0")
    assert path is not None
    return load_checkpoint(path)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_gives_identical_weights(tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    # The uninterrupted reference runs beside the one that gets killed (one core each).
    reference = subprocess.Popen(_command(full), env=_env(), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
    proc = subprocess.Popen(_command(cut), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    folder = cut / "checkpoints" / "cl-seed0"
    deadline = time.monotonic() + 90
    while latest_checkpoint(folder) is None and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)              # kill -9 while the next epoch is running
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    killed_at = latest_checkpoint(folder)
    assert killed_at is not None
    epochs_done = int(load_checkpoint(killed_at)[1]["epoch"])
    assert 1 <= epochs_done < EPOCHS

    resumed = subprocess.run(_command(cut), env=_env(), check=True, capture_output=True,
                             text=True, timeout=120)
    assert "final loss" in resumed.stdout
    assert reference.wait(timeout=120) == 0, reference.stderr.read().decode()[-2000:]

    _assert_same_final(full, cut)


def _assert_same_final(full, cut) -> None:
    """The two runs' last checkpoints: the same epoch (the last), losses, weights, optimiser
    state and schedule, bit for bit."""
    (ref_states, ref_meta), (states, meta) = _final(full), _final(cut)
    assert meta["epoch"] == ref_meta["epoch"] == EPOCHS
    assert meta["losses"] == ref_meta["losses"]
    for part in ("model", "optimizer"):
        ref = _tensors(ref_states[part])
        got = _tensors(states[part])
        assert ref.keys() == got.keys()
        for key in ref:
            assert torch.equal(ref[key], got[key]), f"{part}.{key} differs after resume"
    assert states["scheduler"]["last_epoch"] == ref_states["scheduler"]["last_epoch"]


def _tensors(tree, prefix: str = "") -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    if isinstance(tree, torch.Tensor):
        out[prefix] = tree
    elif isinstance(tree, dict):
        for k, v in tree.items():
            out.update(_tensors(v, f"{prefix}.{k}"))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out.update(_tensors(v, f"{prefix}.{i}"))
    return out


def test_the_background_writer_saves_the_states_as_they_were_when_asked(tmp_path):
    """``CheckpointWriter.write`` copies the states before it returns: training that goes on
    while the file is written does not leak into it."""
    from monorobust.train.checkpoint import CheckpointWriter

    weight = torch.arange(6.0).reshape(2, 3)
    with CheckpointWriter() as writer:
        writer.write(tmp_path / "a.safetensors", {"model": {"w": weight}}, {"epoch": 1},
                     then=lambda: (tmp_path / "pruned").touch())
        weight.add_(100.0)                       # the next step, while the file is written
    states, meta = load_checkpoint(tmp_path / "a.safetensors")
    assert torch.equal(states["model"]["w"], torch.arange(6.0).reshape(2, 3))
    assert meta["epoch"] == 1 and (tmp_path / "pruned").exists()


def test_a_failed_background_write_is_raised_and_a_failing_block_keeps_its_own_error(tmp_path):
    from monorobust.errors import ConfigError
    from monorobust.train.checkpoint import CheckpointWriter

    (tmp_path / "file").write_text("not a folder")
    states = {"model": {"w": torch.ones(2)}}
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        with CheckpointWriter() as writer:
            writer.write(tmp_path / "file" / "a.safetensors", states, {"epoch": 1})
    # The block's own error wins, and the write it queued is whole on disk when it propagates.
    with pytest.raises(InterruptedError, match="stopped"):
        with CheckpointWriter() as writer:
            writer.write(tmp_path / "b.safetensors", states, {"epoch": 2})
            raise InterruptedError("stopped")
    assert load_checkpoint(tmp_path / "b.safetensors")[1]["epoch"] == 2


# Runs the pretrain command with the second epoch's checkpoint write stalled half-way (its
# temporary file cut to half its bytes, not yet renamed), as if the machine died then: the test
# kills the process while it stalls, with the background writer's thread inside the write and
# the training thread in the next epoch.
_STALLED_WRITE = """
import os, sys, time
from pathlib import Path

real_replace = os.replace

def replace(src, dst, *args, **kwargs):
    if str(dst).endswith("epoch-0002.safetensors"):
        os.truncate(src, os.path.getsize(src) // 2)
        Path(sys.argv[1]).touch()
        time.sleep(120)
    return real_replace(src, dst, *args, **kwargs)

os.replace = replace
from monorobust.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.slow
def test_sigkill_during_a_background_checkpoint_write_then_resume_gives_identical_weights(
        tmp_path):
    full, cut, marker = tmp_path / "full", tmp_path / "cut", tmp_path / "stalled"
    reference = subprocess.Popen(_command(full), env=_env(), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
    proc = subprocess.Popen([sys.executable, "-c", _STALLED_WRITE, str(marker),
                             *_command(cut)[3:]], env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert marker.exists(), proc.stderr.read().decode()[-2000:] if proc.poll() else "no stall"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    folder = cut / "checkpoints" / "cl-seed0"
    assert list(folder.glob(".epoch-0002.safetensors.*.tmp"))      # the half-written file
    assert int(load_checkpoint(latest_checkpoint(folder))[1]["epoch"]) == 1

    subprocess.run(_command(cut), env=_env(), check=True, capture_output=True, text=True,
                   timeout=120)
    assert not list(folder.glob(".*.tmp"))                             # removed on resuming
    assert reference.wait(timeout=120) == 0, reference.stderr.read().decode()[-2000:]
    _assert_same_final(full, cut)
