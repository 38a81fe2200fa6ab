"""Pretrainings side by side in worker processes (pretrain.processes): the same weights as in
this process on the same threads, a run killed -9 resumes to the uninterrupted numbers, and a
failure or Ctrl-C stops the workers at once."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from monorobust import workers
from monorobust.config import load_config
from monorobust.data.prepare import prepare_splits
from monorobust.train import pretrain
from monorobust.train.parallel import PretrainJob, pretrain_side_by_side, side_by_side, threads_each


@pytest.fixture(autouse=True)
def two_threads():
    """conftest runs the tests on one thread, with which pretrainings go one at a time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1][:1] == "Z")   # zombie: gone


def _here(images, pcfg, objective: str, seed: int, out: Path):
    """``pretrain`` in this process on the thread count each side-by-side worker gets."""
    threads = torch.get_num_threads()
    torch.set_num_threads(threads_each(pcfg))
    try:
        return pretrain(images, pcfg, objective, seed, out, progress=False)
    finally:
        torch.set_num_threads(threads)


def _same_weights(state: dict, model: torch.nn.Module) -> bool:
    ours = model.state_dict()
    return state.keys() == ours.keys() and all(torch.equal(state[k], ours[k]) for k in ours)


def test_side_by_side_equals_this_process_on_the_same_threads(tmp_path):
    cfg = load_config("smoke")
    pcfg = dataclasses.replace(cfg.pretrain, processes=2, epochs=2)
    images = prepare_splits(cfg.data).train.images
    jobs = [PretrainJob("cl", 0, tmp_path / "cl"), PretrainJob("ncl", 0, tmp_path / "ncl")]
    results = pretrain_side_by_side(images, pcfg, jobs, progress=False)
    for job, result in zip(jobs, results):
        here = _here(images, pcfg, job.objective, job.seed, tmp_path / f"here-{job.objective}")
        assert result.losses == here.losses
        assert _same_weights(result.model.state_dict(), here.model)
        assert result.images_per_second > 0
    assert not torch.equal(results[0].model.state_dict()["projector.0.weight"],
                           results[1].model.state_dict()["projector.0.weight"])


def _run(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "monorobust", "run", "--preset", "smoke", "--out", str(out),
            "--seeds", "0", "--quiet", "--no-report", "--set", "pretrain.processes=2",
            "--set", "pretrain.epochs=12", *extra]


def _rows(out: Path) -> set[str]:
    return {json.dumps(json.loads(line), sort_keys=True)
            for line in (out / "results.jsonl").read_text().splitlines()}


def test_a_run_killed_during_side_by_side_pretraining_resumes_to_the_same_rows(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    reference = subprocess.Popen(_run(whole), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = subprocess.Popen(_run(killed), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    ckpt = killed / "checkpoints"
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(ckpt.glob("*/epoch-0002.safetensors"))) >= 1:
            break
        time.sleep(0.05)
    pids = workers_of(proc.pid)
    proc.send_signal(signal.SIGKILL)                    # kill -9 mid-pretraining
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed / "results.jsonl").exists() or not _rows(killed)
    assert pids, "no worker processes were running"
    deadline = time.monotonic() + 30                     # the workers leave with their parent
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(p) for p in pids)
    assert subprocess.run(_run(killed), capture_output=True, timeout=300).returncode == 0
    assert reference.wait(timeout=300) == 0
    assert _rows(killed) == _rows(whole)
    # One pretraining at a time on all threads rounds differently: the folder refuses it.
    refused = subprocess.run(_run(killed, "--set", "pretrain.processes=1"), capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode == 2 and "pretrain.processes" in refused.stderr


def workers_of(parent: int) -> list[int]:
    """Child processes of ``parent`` (Linux /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().split(") ")[-1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_a_failing_job_stops_the_others_at_once():
    started = time.monotonic()
    with pytest.raises(ValueError, match="broken on purpose"):
        workers.run_jobs(_sleep_or_fail, [(60.0, ""), (0.5, "broken on purpose")], 2)
    assert time.monotonic() - started < 30              # the 60 s job did not run on
    assert workers.worker_pids() == []
    assert workers.run_jobs(_sleep, [(0.1,), (0.2,)], 2) == [0.1, 0.2]    # a new pool serves


def _sleep_or_fail(seconds: float, message: str) -> float:
    if message:
        time.sleep(seconds)
        raise ValueError(message)
    return _sleep(seconds)


def _pid_after(seconds: float) -> tuple[int, float, float]:
    started = time.time()
    time.sleep(seconds)
    return os.getpid(), started, time.time()


def test_jobs_run_at_most_processes_at_a_time_in_a_larger_pool():
    workers.run_jobs(_sleep, [(0.0,)] * 3, 3)            # a pool of 3
    spans = workers.run_jobs(_pid_after, [(0.3,)] * 4, 2)
    running = [sum(s <= start + 0.01 < e for _, s, e in spans) for _, start, _ in spans]
    assert max(running) <= 2                             # never 3 or 4 at once (a pool of 3)


def test_ctrl_c_while_waiting_kills_the_workers():
    workers.run_jobs(_sleep, [(0.0,), (0.0,)], 2)       # a started pool (of 2 or more)
    pids = workers.worker_pids()
    assert len(pids) >= 2

    def interrupt() -> None:
        raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        workers.run_jobs(_sleep, [(60.0,), (60.0,)], 2, poll=interrupt, every=0.2)
    assert time.monotonic() - started < 30
    assert not any(_alive(p) for p in pids)


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_worker_killed_mid_job_is_an_error_that_says_so():
    with pytest.raises(RuntimeError, match="worker process running _kill_self stopped abruptly"):
        workers.run_jobs(_kill_self, [()], 1)
    assert workers.run_jobs(_sleep, [(0.0,)], 1) == [0.0]


def test_ctrl_c_stops_a_run_at_once_during_side_by_side_pretraining(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(_run(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not list(out.glob("checkpoints/*/epoch-0001.safetensors")) and proc.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = workers_of(proc.pid)
    proc.send_signal(signal.SIGINT)                     # Ctrl-C, to the run alone
    sent = time.monotonic()
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err
    assert time.monotonic() - sent < 20                  # not after the pretrainings finish
    assert "interrupted: rerun the same command" in err
    assert "Traceback" not in err and "leaked" not in err
    time.sleep(1)
    assert pids and not any(_alive(p) for p in pids)


def test_processes_is_checked_and_applies_to_one_cpu_process_only():
    from types import SimpleNamespace

    from monorobust.errors import ConfigError

    with pytest.raises(ConfigError, match="pretrain.processes"):
        load_config("smoke", {"pretrain.processes": 0})
    cfg = load_config("smoke", {"pretrain.processes": 2})
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert side_by_side(cfg.pretrain, SimpleNamespace(device=cpu, world_size=1))
    assert not side_by_side(cfg.pretrain, SimpleNamespace(device=gpu, world_size=1))
    assert not side_by_side(cfg.pretrain, SimpleNamespace(device=cpu, world_size=2))
    assert not side_by_side(load_config("smoke").pretrain, SimpleNamespace(device=cpu, world_size=1))


def test_the_pretrain_command_runs_seeds_side_by_side_as_run_would(tmp_path, capsys):
    from monorobust.cli import main
    from monorobust.train.checkpoint import load_checkpoint

    out = tmp_path / "pre"
    assert main(["pretrain", "--preset", "smoke", "--out", str(out), "--seeds", "0", "1",
                 "--set", "pretrain.processes=2", "--set", "pretrain.epochs=2"]) == 0
    printed = capsys.readouterr()
    assert "cl seed 0: final loss" in printed.out and "cl seed 1: final loss" in printed.out
    assert "pretrain 2 encoders, 2 at once" in printed.err
    cfg = load_config(str(out / "config.yaml"))
    here = _here(prepare_splits(cfg.data).train.images, cfg.pretrain, "cl", 1, tmp_path / "here")
    states, _ = load_checkpoint(out / "checkpoints" / "cl-seed1" / "epoch-0002.safetensors")
    assert _same_weights(states["model"], here.model)


def test_finetune_pretrains_missing_encoders_side_by_side_as_run_would(tmp_path, capsys):
    from monorobust.finetune import FinetuneConfig, run_finetune
    from monorobust.train.checkpoint import load_checkpoint

    run = load_config("smoke", {"out": str(tmp_path / "ft"), "seeds": [0],
                                "pretrain.epochs": 2, "pretrain.processes": 2})
    cfg = FinetuneConfig(objectives=("cl", "ncl"), heads=("standard",), label_noise=(),
                         few_shot=(), train_size=200, val_size=60, epochs=1, batch_size=64)
    run_finetune(run, cfg, progress=True)
    assert "pretrain 2 encoders, 2 at once" in capsys.readouterr().err
    here = _here(prepare_splits(run.data).train.images, run.pretrain, "ncl", 0, tmp_path / "here")
    states, _ = load_checkpoint(tmp_path / "ft" / "checkpoints" / "ncl-seed0" / "epoch-0002.safetensors")
    assert _same_weights(states["model"], here.model)


def test_one_thread_allowed_means_one_pretraining_at_a_time_with_the_same_numbers(tmp_path, capsys):
    cfg = load_config("smoke")
    pcfg = dataclasses.replace(cfg.pretrain, processes=2, epochs=1)
    images = prepare_splits(cfg.data).train.images
    workers.run_jobs(_sleep, [(0.0,), (0.0,)], 2)       # a pool of 2 serves, 1 at a time
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = pretrain_side_by_side(images, pcfg, [PretrainJob("cl", 0, tmp_path / "a"),
                                                   PretrainJob("ncl", 0, tmp_path / "b")])
        assert "2 encoders, 1 at once" in capsys.readouterr().err
    finally:
        torch.set_num_threads(threads)
    if threads >= 2:
        two = pretrain_side_by_side(images, pcfg, [PretrainJob("cl", 0, tmp_path / "c"),
                                                   PretrainJob("ncl", 0, tmp_path / "d")])
        assert "2 encoders, 2 at once" in capsys.readouterr().err
        for a, b in zip(one, two):
            assert a.losses == b.losses
