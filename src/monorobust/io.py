"""Atomic file writes and the JSON-lines results store.

Nothing is ever half-written: every file is written to a temporary sibling, flushed, fsynced and
renamed over the target (``os.replace`` is atomic on POSIX and Windows). Appending a row rewrites
the whole file the same way, so a reader or a crash never sees a partial line.

Files are still damaged by other means (a copy cut short, a disk error, an editor): reading a
JSON-lines file drops a damaged last line with a warning, and refuses damage anywhere else with
a ``ConfigError`` naming the line (``read_jsonl``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from monorobust.errors import ConfigError


def make_folder(folder: str | Path) -> Path:
    """Create ``folder`` and its parents where missing; ``folder_error`` when that fails."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise folder_error(folder, err) from None
    return folder


def folder_error(folder: Path, err: OSError) -> ConfigError:
    """The error for an ``OSError`` creating or writing in ``folder`` (a file in the way, a
    read-only disk, no permission): the folder, the reason and the fix, not a traceback."""
    blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    reason = f"{blocker} is a file, not a folder" if blocker else err.strerror or str(err)
    return ConfigError(f"cannot write in the folder {folder}: {reason}; pass a folder you can "
                       "write to (--out), or copy a finished run to one")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` holds either the old or the new content."""
    path = Path(path)
    make_folder(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise folder_error(path.parent, err) from None
    try:
        # mkstemp creates the file 0600; give it the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


class IntegrityWarning(UserWarning):
    """A damaged file (or part of one) was skipped; the work it held will be redone."""


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """All rows of a JSON-lines file (an empty list when it does not exist).

    A damaged last line is what an interrupted append leaves behind: it is dropped with an
    ``IntegrityWarning`` (its rows are missing, so a rerun recomputes them). A damaged line
    anywhere else means the file was edited or corrupted: a ``ConfigError`` naming the line.
    """
    return [row for _, row in read_jsonl_numbered(path)]


def read_jsonl_numbered(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """``read_jsonl``'s rows with the line number of each (for errors that name the line)."""
    path = Path(path)
    if not path.exists():
        return []
    rows, damaged_tail = _parse_rows(path.read_bytes(), path)
    if damaged_tail is not None:
        warnings.warn(f"{path} line {damaged_tail} is truncated or damaged (an interrupted "
                      "write?); dropped, a rerun recomputes its row", IntegrityWarning,
                      stacklevel=3)
    return rows


def _parse_rows(data: bytes, path: Path) -> tuple[list[tuple[int, dict[str, Any]]], int | None]:
    """``([(line number, row)], line number of a damaged last line or None)``; blank lines are
    skipped."""
    lines = [(n, line) for n, line in enumerate(data.split(b"\n"), 1) if line.strip()]
    rows = []
    for i, (n, line) in enumerate(lines):
        row = _parse_row(line)
        if row is not None:
            rows.append((n, row))
        elif i == len(lines) - 1:
            return rows, n
        else:
            raise ConfigError(f"{path} line {n} is not a JSON object (damaged file); delete that "
                              "line, or the whole file to recompute every row, and rerun")
    return rows, None


def _parse_row(line: bytes) -> dict[str, Any] | None:
    """The JSON object on ``line``, or None when it is not one (bad UTF-8, bad JSON, not a dict)."""
    try:
        row = json.loads(line)
    except ValueError:              # JSONDecodeError and UnicodeDecodeError alike
        return None
    return row if isinstance(row, dict) else None


def append_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    """Append rows atomically: readers see all of them or none."""
    path = Path(path)
    old = _intact_bytes(path.read_bytes()) if path.exists() else b""
    new = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode("utf-8")
    atomic_write_bytes(path, old + new)


def _intact_bytes(data: bytes) -> bytes:
    """``data`` without a damaged last line, ending in a newline (or empty).

    ``read_jsonl`` already reported and dropped that line; appending after it would glue the new
    row onto it and turn it into damage in the middle of the file.
    """
    body, _, last = data.rstrip(b"\n").rpartition(b"\n")
    if last.strip() and _parse_row(last) is None:
        return body + b"\n" if body else b""
    return data if not data or data.endswith(b"\n") else data + b"\n"


@contextmanager
def atomic_directory(target: str | Path) -> Iterator[Path]:
    """Yield an empty temporary sibling of ``target``; when the block succeeds it replaces
    ``target`` whole, when it fails it is removed and ``target`` is left as it was."""
    target = Path(target)
    make_folder(target.parent)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def tensor_checksum(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 hex digest of each tensor's name, dtype, shape and raw bytes, in sorted key order:
    what a checkpoint, a feature cache or a run's saved features record, checked on load.

    The bytes are hashed in place (a uint8 view, no copy), so it costs one pass over the data.
    """
    import torch

    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(json.dumps([name, str(t.dtype), list(t.shape)]).encode())
        # reshape(-1): view(uint8) needs at least one dimension; works for bf16 and fp8 too.
        digest.update(t.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


CACHE_CHECKSUM = "tensors_sha256"


def checked_cache_bytes(tensors: dict[str, torch.Tensor],
                        metadata: dict[str, str] | None = None) -> bytes:
    """safetensors bytes of ``tensors`` with ``metadata`` (what the cache was made from) and
    their SHA-256 in the header, for a cache that ``read_checked_cache`` reads back."""
    from safetensors.torch import save

    tensors = {k: v.contiguous() for k, v in tensors.items()}
    return save(tensors, metadata={**(metadata or {}), CACHE_CHECKSUM: tensor_checksum(tensors)})


def read_checked_cache(path: str | Path, metadata: dict[str, str] | None = None,
                       what: str = "cache") -> dict[str, torch.Tensor] | None:
    """The tensors of a cache written with ``checked_cache_bytes``; None (compute it again) when
    there is none, it predates the checksum or was made from other ``metadata``, and, with an
    ``IntegrityWarning`` naming it (``what``), when it is damaged: cut short, or a byte changed
    (safetensors checks no data)."""
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load

    path = Path(path)
    if not path.exists():
        return None
    try:
        # The header first: a cache made from other inputs is dropped without reading it.
        with safe_open(str(path), "pt") as f:
            made_from = dict(f.metadata() or {})
        expected = made_from.pop(CACHE_CHECKSUM, None)
        if expected is None or made_from != (metadata or {}):
            return None
        tensors = load(path.read_bytes())
        if tensor_checksum(tensors) == expected:
            return tensors
        problem = "checksum mismatch"
    except (SafetensorError, ValueError, RuntimeError, OSError) as err:
        problem = f"{type(err).__name__}: {err}"
    warnings.warn(f"{what} {path} is damaged ({problem}); computing it again", IntegrityWarning,
                  stacklevel=2)
    return None
