"""Reader for the IDX format of (Fashion-)MNIST's original files (``.gz`` or plain).

Written by hand because it is ten lines and torchvision (whose reader this mirrors) is not a
core dependency here.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from monorobust.errors import ConfigError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> torch.Tensor:
    """The array stored in an IDX file, as a tensor of its stored dtype."""
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise ConfigError(f"{path} is not an IDX file (bad magic number); re-download it")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=_DTYPES[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ConfigError(f"{path} is truncated: header says {shape}, found {data.size} values")
    return torch.from_numpy(data.astype(data.dtype.newbyteorder("=")).reshape(shape).copy())
