"""Reader for the IDX format of (Fashion-)MNIST's original files (``.gz`` or plain).

Written by hand because it is ten lines and torchvision (whose reader this mirrors) is not a
core dependency here. Every way a file can be damaged (unreadable, not gzip, cut short, a bad
header) is one ``ConfigError`` naming the file.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch

from monorobust.errors import ConfigError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> torch.Tensor:
    """The array stored in an IDX file, as a tensor of its stored dtype."""
    raw = _read_bytes(Path(path))
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise ConfigError(f"{path} is not an IDX file (bad magic number); re-download it")
    ndim, dtype = raw[3], np.dtype(_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise ConfigError(f"{path} is truncated: its header is cut short; re-download it")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - offset != expected:
        problem = "truncated" if len(raw) - offset < expected else "longer than its header says"
        raise ConfigError(f"{path} is {problem}: header says {shape} ({expected} bytes of data), "
                          f"found {len(raw) - offset} bytes; re-download it")
    data = np.frombuffer(raw, dtype=dtype, offset=offset)
    return torch.from_numpy(data.astype(data.dtype.newbyteorder("=")).reshape(shape).copy())


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped for ``.gz``; a ConfigError when it cannot be read."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if path.suffix == ".gz" else raw
    except EOFError:
        raise ConfigError(f"{path} is truncated (its gzip stream ends early); "
                          "re-download it") from None
    except (OSError, zlib.error) as err:      # gzip.BadGzipFile is an OSError
        raise ConfigError(f"cannot read {path}: not a valid gzip file or unreadable ({err}); "
                          "re-download it") from None
