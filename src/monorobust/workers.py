"""The worker processes a run shares: ImageNet-C corruptions, pretrainings side by side.

One pool of spawned processes (forking a process whose torch thread pools have run is unsafe),
started on first use and kept for the process's life, so later calls do not pay for starting
Python and importing torch again. A spawned process imports the caller's main module, as
``multiprocessing`` does on every platform where spawning is the default: the ``monorobust``
command is safe; a script must keep its work under ``if __name__ == "__main__":``.

``run_jobs`` is the one way in: it returns every job's result in order, or, when a job fails or
the caller is interrupted (Ctrl-C), kills the workers before the error goes on, so a run that
stopped does not wait behind a pretraining that has minutes left. Workers leave by themselves
when the process that started them dies (kill -9 included).

concurrent.futures has no way to stop a running job before Python 3.14 (``kill_workers``);
below that, the pool's own process table is used, which is why this is written out here.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

_POOL: tuple[int, ProcessPoolExecutor] | None = None


def run_jobs(fn: Callable, jobs: Sequence[tuple], processes: int,
             poll: Callable[[], None] | None = None, every: float = 0.5) -> list:
    """``[fn(*job) for job in jobs]``, computed in worker processes, ``processes`` at a time.

    ``fn`` must be importable by name (a module-level function) and the jobs picklable.
    ``poll`` is called every ``every`` seconds while the jobs run (progress bars). The first
    job to fail raises its error here, after the workers were killed; so does an interrupt.
    """
    executor = pool(processes)
    futures: dict = {}
    try:
        waiting = list(range(len(jobs)))[::-1]
        running: set = set()
        while waiting or running:
            while waiting and len(running) < processes:   # the pool may have more workers
                i = waiting.pop()
                futures[i] = executor.submit(fn, *jobs[i])
                running.add(futures[i])
            done, running = wait(running, timeout=every, return_when=FIRST_EXCEPTION)
            for future in done:
                if isinstance(future.exception(), BrokenProcessPool):
                    raise RuntimeError(
                        f"a worker process running {getattr(fn, '__name__', fn)} stopped abruptly "
                        "(killed, or out of memory?); rerun the same command to resume"
                    ) from future.exception()
                if future.exception() is not None:
                    raise future.exception()
            if poll is not None:
                poll()
        return [futures[i].result() for i in range(len(jobs))]
    except BaseException:
        kill()
        raise


def pool(processes: int) -> ProcessPoolExecutor:
    """The shared pool, with at least ``processes`` workers (restarted larger when it has fewer)."""
    global _POOL
    if _POOL is None or _POOL[0] < processes:
        shutdown()
        context = multiprocessing.get_context("spawn")
        _POOL = processes, ProcessPoolExecutor(processes, mp_context=context,
                                               initializer=_exit_with_parent,
                                               initargs=(os.getpid(),))
    return _POOL[1]


def worker_pids() -> list[int]:
    """The pids of the pool's live workers ([] when there is no pool)."""
    return [] if _POOL is None else list(getattr(_POOL[1], "_processes", None) or {})


def kill() -> None:
    """Stop every worker now, running jobs included, and forget the pool."""
    global _POOL
    if _POOL is None:
        return
    executor = _POOL[1]
    if hasattr(executor, "kill_workers"):                   # Python 3.14
        executor.kill_workers()
    else:
        for process in list((getattr(executor, "_processes", None) or {}).values()):
            process.kill()
    executor.shutdown(wait=True, cancel_futures=True)
    _POOL = None


def shutdown() -> None:
    """Let the workers finish what they run and leave; forget the pool."""
    global _POOL
    if _POOL is not None:
        _POOL[1].shutdown(cancel_futures=True)
        _POOL = None


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: leave as soon as the process that started the pool is gone (after a
    kill -9 too). Pool workers hold both ends of their queues, so without this an orphaned
    worker would wait for work forever. Ctrl-C is the parent's to handle (it says how to
    resume, and kills the workers); a worker ignores it rather than print a traceback.

    Workers draw no progress bars, but tqdm takes its lock even for a disabled one, and its
    default lock is a multiprocessing semaphore: a killed worker would leave it behind, for the
    resource tracker to report as leaked when the run exits. A thread lock does here."""
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
