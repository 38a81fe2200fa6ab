import numpy as np
import pytest
import torch

from monorobust.errors import ConfigError
from monorobust.perturb import (
    few_shot_indices, gaussian_noise, sketch, symmetric_label_noise, uniform_noise,
)


@pytest.mark.parametrize("rate", [0.0, 0.2, 0.37, 0.8, 0.89])
def test_label_noise_rate_is_exact_and_never_keeps_the_true_class(rate, gen):
    labels = torch.randint(0, 10, (1003,), generator=torch.Generator().manual_seed(1))
    noisy = symmetric_label_noise(labels, rate, 10, gen)
    changed = noisy.labels != labels
    assert int(changed.sum()) == round(rate * 1003)
    assert torch.equal(changed, noisy.flipped)          # every chosen label really moved
    assert noisy.realised_rate == round(rate * 1003) / 1003
    assert noisy.labels.min() >= 0 and noisy.labels.max() < 10


def test_label_noise_targets_are_uniform_over_other_classes(gen):
    labels = torch.zeros(40000, dtype=torch.long)
    noisy = symmetric_label_noise(labels, 0.5, 5, gen)
    counts = torch.bincount(noisy.labels[noisy.flipped], minlength=5).float()
    assert counts[0] == 0
    assert torch.allclose(counts[1:] / counts[1:].sum(), torch.full((4,), 0.25), atol=0.01)


def test_label_noise_is_reproducible_and_leaves_global_rng_alone():
    labels = torch.arange(100) % 10
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = symmetric_label_noise(labels, 0.3, 10, torch.Generator().manual_seed(7))
    after = torch.rand(1)
    b = symmetric_label_noise(labels, 0.3, 10, torch.Generator().manual_seed(7))
    assert torch.equal(a.labels, b.labels)
    assert torch.equal(before, after)


@pytest.mark.parametrize("rate", [0.9, 1.0, -0.1])
def test_label_noise_rejects_rates_at_or_above_the_limit(rate, gen):
    with pytest.raises(ConfigError, match="rate"):
        symmetric_label_noise(torch.zeros(10, dtype=torch.long), rate, 10, gen)


def test_gaussian_noise_is_zero_mean_with_the_requested_std_and_clipped(gen):
    x = torch.full((200, 1, 28, 28), 0.5)
    y = gaussian_noise(x, 0.05, gen)                     # 10 std from the bounds: no clipping
    d = y - x
    assert abs(float(d.mean())) < 1e-3
    assert abs(float(d.std()) - 0.05) < 1e-3
    big = gaussian_noise(x, 2.0, gen)
    assert big.min() >= 0 and big.max() <= 1
    assert float((big == 0).float().mean()) > 0.3       # clipping did happen


def test_uniform_noise_is_zero_mean_bounded_and_clipped(gen):
    x = torch.full((200, 1, 28, 28), 0.5)
    d = uniform_noise(x, 0.2, gen) - x
    assert abs(float(d.mean())) < 1e-3
    assert float(d.abs().max()) <= 0.2 + 1e-6
    assert abs(float(d.var()) - 0.2**2 / 3) < 1e-3      # variance of U(-a, a)
    y = uniform_noise(torch.rand(10, 3, 8, 8, generator=gen), 0.9, gen)
    assert y.min() >= 0 and y.max() <= 1


def test_noise_rejects_uint8_images(gen):
    with pytest.raises(ConfigError, match="float"):
        gaussian_noise(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), 0.1, gen)


def test_few_shot_draws_exactly_k_per_class(gen):
    labels = torch.arange(300) % 3
    idx = few_shot_indices(labels, 7, 3, gen)
    assert torch.equal(torch.bincount(labels[idx]), torch.tensor([7, 7, 7]))
    assert len(idx.unique()) == 21
    with pytest.raises(ConfigError, match="k=101"):
        few_shot_indices(labels, 101, 3, gen)


def test_sketch_keeps_shape_and_range():
    x = torch.zeros(2, 1, 16, 16)
    x[:, :, 4:12, 4:12] = 1.0
    s = sketch(x)
    assert s.shape == x.shape and s.min() >= 0 and s.max() <= 1
    assert s[0, 0, 8, 8] == 0 and s[0, 0, 4, 8] > 0     # flat inside, edge on the border


def test_corruptions_in_worker_processes_equal_those_in_this_one():
    pytest.importorskip("corrupt_tta")
    from monorobust.perturb import corrupt, corrupt_each, set_corrupt_workers

    images = (torch.rand(12, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    jobs = [("contrast", 3, 1), ("fog", 2, 2), ("jpeg_compression", 5, 3),
            ("motion_blur", 4, 4), ("elastic_transform", 1, 5), ("impulse_noise", 2, 6)]
    for calibration in ("auto", "cifar-10-c", "imagenet-c"):   # auto: cifar-10-c at 28 px
        np.random.seed(7)
        alone = [corrupt(images, *job, calibration=calibration) for job in jobs]
        assert np.random.randint(2**31) == np.random.RandomState(7).randint(2**31)  # RNG as it was
        assert all(a.shape == images.shape and a.dtype == torch.uint8 for a in alone)
        assert not torch.equal(alone[0], images)
        in_workers = corrupt_each(images, jobs[:-1] if calibration == "imagenet-c" else jobs,
                                  workers=2, calibration=calibration)  # corrupt-tta's impulse
        assert all(torch.equal(a, b) for a, b in zip(alone, in_workers))  # noise is unseeded
    alone = [corrupt(images, *job) for job in jobs]
    assert torch.equal(corrupt(images, "fog", 2, 2), alone[1])             # seeded, repeatable
    assert not torch.equal(corrupt(images, "fog", 2, 9), alone[1])
    with pytest.raises(ConfigError, match="whole number >= 1 or None"):
        set_corrupt_workers(0)
    with pytest.raises(ConfigError, match="unknown corruption 'rain'"):
        corrupt_each(images, [("rain", 1, 0)], workers=2)
    for severity in (0, 6, 2.5):
        with pytest.raises(ConfigError, match="severity must be a whole number 1-5"):
            corrupt(images, "motion_blur", severity, 0)


def test_corruption_workers_leave_when_their_process_is_killed(tmp_path):
    """kill -9 of a run must not leave its worker processes waiting for work forever."""
    pytest.importorskip("corrupt_tta")
    import os
    import subprocess
    import sys
    import time

    pids = tmp_path / "pids"
    script = tmp_path / "run.py"
    script.write_text(f"""
import os, signal, threading, time, torch
import monorobust.perturb.shift as shift
import monorobust.workers as workers
if __name__ == "__main__":
    x = (torch.rand(3000, 1, 28, 28) * 255).to(torch.uint8)
    jobs = [("elastic_transform", 1, i) for i in range(4)]
    threading.Thread(target=shift.corrupt_each, args=(x, jobs, 2), daemon=True).start()
    while len(workers.worker_pids()) < 2:
        time.sleep(0.1)
    time.sleep(1)
    open({str(pids)!r}, "w").write(" ".join(map(str, workers.worker_pids())))
    os.kill(os.getpid(), signal.SIGKILL)
""")
    subprocess.run([sys.executable, str(script)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120)
    workers = [int(p) for p in pids.read_text().split()]
    assert len(workers) == 2

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        stat = open(f"/proc/{pid}/stat").read() if os.path.exists(f"/proc/{pid}/stat") else ""
        return stat.split(") ")[-1][:1] != "Z"                 # a zombie has exited

    deadline = time.monotonic() + 30
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in workers)
