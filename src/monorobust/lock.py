"""One writer per run folder: an advisory lock that the operating system releases.

Every command that writes into a run folder (``run``, ``pretrain``, ``sae``, ``finetune``,
``report``) holds ``FOLDER/.lock`` for as long as it works there. The lock is ``fcntl.flock`` on
that file: the kernel drops it when the process exits in any way, ``kill -9`` included, so a
lock is never stale and there is nothing to clean up. A second writer is refused with one line
naming the folder and the process that holds it. Readers take no lock.

Processes started by a launched multi-process run (Lightning's launcher, torchrun) find the
rank in their environment; only the first process of the first node takes the lock, since the
others work under it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from monorobust.errors import ConfigError
from monorobust.io import folder_error, make_folder

LOCK_NAME = ".lock"


def _launched_worker() -> bool:
    """True in a process started by a multi-process launcher for any rank but the first."""
    return any(os.environ.get(var, "0") != "0" for var in ("RANK", "LOCAL_RANK", "NODE_RANK"))


@contextmanager
def hold_folder(folder: str | Path, command: str, create: bool = True) -> Iterator[None]:
    """Hold the write lock of ``folder`` (created if missing and ``create``) while the block runs.

    Raises ConfigError, before any work, when another process holds it or when the folder
    cannot be created or written in (a file in the way, a read-only disk: ``io.folder_error``).
    ``create=False`` is for commands that take an existing run folder as their argument
    (``report``, ``study``): they have no --out to point elsewhere, so the refusal says wait.
    """
    if _launched_worker() or sys.platform == "win32":   # flock is POSIX; Windows runs unlocked
        yield
        return
    import fcntl

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise folder_error(folder, NotADirectoryError(folder))
    if not create and not folder.is_dir():
        raise ConfigError(f"{folder} does not exist; pass the --out folder of a run")
    make_folder(folder)
    # Opened without truncating: the holder's pid in it must survive a refused second opener.
    try:
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:                      # a read-only folder
        raise folder_error(folder, err) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            elsewhere = ", or pass another --out" if create else ""
            raise ConfigError(f"{folder} is in use by {holder}; wait for it to finish"
                              f"{elsewhere}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} (monorobust {command})\n".encode(), 0)
        yield
    finally:
        os.close(fd)                    # closing the descriptor releases the lock
