"""Run independent experiment cells in worker processes (one torch thread each).

On a 2-core machine two single-threaded processes beat one process with two threads, and on a
shared machine they avoid OpenMP threads spinning while their sibling waits for a core. Each cell
seeds itself, so results do not depend on the number of workers or the order cells finish in.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from typing import Any


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def pool(workers: int, threads: int) -> ProcessPoolExecutor:
    """A process pool whose workers use ``threads`` torch threads (``spawn``: no forked torch state)."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(threads,))


def run_cells(fn: Callable[..., Any], cells: Iterable[tuple], workers: int, threads: int) -> Iterator[Any]:
    """Yield ``fn(*cell)`` for every cell as each finishes (in this process when ``workers == 1``)."""
    cells = list(cells)
    if workers <= 1 or len(cells) <= 1:
        _init_worker(threads)
        for cell in cells:
            yield fn(*cell)
        return
    with pool(min(workers, len(cells)), threads) as executor:
        futures: list[Future] = [executor.submit(fn, *cell) for cell in cells]
        for future in as_completed(futures):
            yield future.result()


class InlineExecutor:
    """The ``submit`` of an executor, run at once in this process (for ``workers == 1``)."""

    def __init__(self, threads: int) -> None:
        _init_worker(threads)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as err:  # surfaced by future.result(), like a pool would
            future.set_exception(err)
        return future

    def __enter__(self) -> "InlineExecutor":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def executor(workers: int, threads: int) -> ProcessPoolExecutor | InlineExecutor:
    """A process pool of ``workers``, or an inline executor when ``workers == 1``."""
    return InlineExecutor(threads) if workers <= 1 else pool(workers, threads)
