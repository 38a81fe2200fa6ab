"""Your own arrays: ``--dataset arrays --data-dir FILE.npz``.

The file (``np.savez``, no pickles) holds::

    x_train  uint8 (N, H, W, C) or (N, C, H, W) or (N, H, W)   C = 1 or 3, H = W
    y_train  integer (N,)   class indices 0..K-1
    x_test   uint8, the same layout and (C, H, W) as x_train
    y_test   integer (M,)
    classes  optional, str (K,): class names (default "0" .. "K-1")

Layout: channels last (NHWC) when the last axis has 1 or 3 entries, else channels first (NCHW)
when axis 1 has; (N, H, W) is greyscale. The resolution is the arrays' own (``data.image_size``
is refused); ``data.channels`` converts (1 -> 3 repeats the grey channel, 3 -> 1 takes the
ITU-R 601 luma, as PIL's "L"). Every class needs at least 2 images in each split.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from monorobust.data.base import DATASETS, ImageDataset, ImageSplit
from monorobust.errors import ConfigError

KEYS = ("x_train", "y_train", "x_test", "y_test")
SAVEZ = "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)"
LUMA = (0.299, 0.587, 0.114)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        f = np.load(path, allow_pickle=False)
        if isinstance(f, np.ndarray):             # a .npy file: one array, no keys
            raise ConfigError(f"{path} holds one array ({f.dtype}, shape {f.shape}), not an .npz "
                              f"archive; dataset 'arrays' needs an .npz with the keys "
                              f"{', '.join(KEYS)}: write it with {SAVEZ}")
        with f:
            return {k: f[k] for k in f.files}
    except ConfigError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        hint = " (object arrays need pickle: save classes as a str array)" if "pickle" in str(err) else ""
        raise ConfigError(f"{path} is not a readable .npz file ({err.__class__.__name__}: "
                          f"{err}){hint}; write it with {SAVEZ}") from None


def to_nchw(x: np.ndarray, key: str, path: Path) -> np.ndarray:
    if x.dtype != np.uint8:
        raise ConfigError(f"{path}: {key} has dtype {x.dtype}; uint8 images 0..255 are required "
                          "(e.g. (x * 255).round().astype(np.uint8) for floats in [0, 1])")
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[3] in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    elif not (x.ndim == 4 and x.shape[1] in (1, 3)):
        raise ConfigError(f"{path}: {key} has shape {x.shape}; expected (N, H, W, C) or "
                          "(N, C, H, W) with C = 1 or 3, or (N, H, W)")
    if x.shape[2] != x.shape[3] or x.shape[2] < 2:
        raise ConfigError(f"{path}: {key} has {x.shape[2]} x {x.shape[3]} images; square images "
                          "are needed (crop or pad them before saving)")
    return np.ascontiguousarray(x)


def to_labels(y: np.ndarray, key: str, n: int, path: Path) -> np.ndarray:
    if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1 or len(y) != n:
        raise ConfigError(f"{path}: {key} has dtype {y.dtype} and shape {y.shape}; expected "
                          f"integer class indices of shape ({n},), one per image")
    if n and y.min() < 0:
        raise ConfigError(f"{path}: {key} holds negative labels; use class indices 0..K-1")
    return y.astype(np.int64)


def convert_channels(x: torch.Tensor, channels: int | None) -> torch.Tensor:
    if channels is None or channels == x.shape[1]:
        return x
    if channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    grey = (x.float() * torch.tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    return grey.round().clamp(0, 255).to(torch.uint8)


def class_names(a: dict[str, np.ndarray], k: int, path: Path) -> tuple[str, ...]:
    if "classes" not in a:
        return tuple(str(c) for c in range(k))
    names = a["classes"]
    if names.dtype.kind not in "US" or names.ndim != 1 or len(set(names.tolist())) != len(names):
        raise ConfigError(f"{path}: classes must be distinct strings, shape (K,); got dtype "
                          f"{names.dtype}, shape {names.shape}")
    if len(names) < k:
        raise ConfigError(f"{path}: labels go up to {k - 1} but classes names only {len(names)}")
    return tuple(str(n.decode() if isinstance(n, bytes) else n) for n in names.tolist())


@DATASETS.register("arrays")
def load_arrays(data_dir: Path | None, channels: int | None = None) -> ImageDataset:
    if data_dir is None:
        raise ConfigError("dataset 'arrays' reads your arrays: pass --data-dir FILE.npz with "
                          "x_train, y_train, x_test, y_test")
    if channels not in (None, 1, 3):
        raise ConfigError(f"data.channels must be 1 or 3 (or null: the arrays' own), got {channels}")
    a = read_npz(data_dir)
    missing = [k for k in KEYS if k not in a]
    if missing:
        has = ", ".join(sorted(a)) or "nothing"
        raise ConfigError(f"{data_dir} lacks {', '.join(missing)} (has: {has}); save it with {SAVEZ}")
    x_train, x_test = (to_nchw(a[k], k, data_dir) for k in ("x_train", "x_test"))
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ConfigError(f"{data_dir}: x_train images are (C, H, W) {x_train.shape[1:]} but "
                          f"x_test {x_test.shape[1:]}; both splits need the same")
    y_train = to_labels(a["y_train"], "y_train", len(x_train), data_dir)
    y_test = to_labels(a["y_test"], "y_test", len(x_test), data_dir)
    k = int(max(y_train.max(initial=-1), y_test.max(initial=-1))) + 1
    classes = class_names(a, k, data_dir)
    k = len(classes)
    counts = {key: np.bincount(y, minlength=k) for key, y in (("y_train", y_train), ("y_test", y_test))}
    for key, other in (("y_train", "y_test"), ("y_test", "y_train")):
        few = np.nonzero(counts[key] < 2)[0]
        if len(few):
            c = int(few[0])
            only = f" (it is in {other} only)" if counts[key][c] == 0 and counts[other][c] else ""
            raise ConfigError(f"{data_dir}: class {c} ({classes[c]}) has {counts[key][c]} images "
                              f"in {key}{only}; every class needs at least 2 in each split"
                              + (f" ({len(few) - 1} more classes too)" if len(few) > 1 else ""))
    train = ImageSplit(convert_channels(torch.from_numpy(x_train), channels), torch.from_numpy(y_train))
    test = ImageSplit(convert_channels(torch.from_numpy(x_test), channels), torch.from_numpy(y_test))
    return ImageDataset("arrays", train, test, classes)


load_arrays.reads_file = True     # data_dir is the .npz file (see base.reads_file)
