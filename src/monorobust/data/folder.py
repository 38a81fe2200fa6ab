"""Reading image files: decoding, class folders, and a lazy tensor-like stand-in for uint8
(N, C, S, S) that datasets too large for memory (ImageNet-100, a big ``folder``) stream from.

ImageNet-100 at 224 px is 19 GB as uint8, more than small machines hold. ``FolderImages`` keeps
only the file paths. It behaves like the uint8 image tensor the rest of the package expects
where that matters:

- ``len``, ``shape``, ``dtype``, ``ndim``, as a tensor's;
- ``x[i]`` (an int) decodes one image, (C, S, S) uint8, so it is a map-style dataset that
  DataLoader workers decode in parallel (``train.batches.Streaming``);
- ``x[slice]``, ``x[index_tensor]`` give a lazy subset (no decoding), so splits stay lazy;
- ``x.to(device)`` / ``x.materialize()`` decode everything (``decode_many``: a process pool).

Decoding: RGB (``channels=3``) or greyscale (``channels=1``), the shorter side resized to S
(JPEG ``draft`` first, which lets libjpeg decode at a reduced scale: several times faster on
large photos; bilinear), then the centre S x S square.
"""

from __future__ import annotations

import multiprocessing
import os
import struct
import warnings
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from monorobust.errors import ConfigError

EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".webp")
"""ImageNet-100's files; ``pil_extensions()`` for any format PIL opens."""
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
"""PIL modes of single-channel images (alpha ignored)."""
SERIAL_BELOW = 512
"""Fewer images than this decode in this process: a pool's start-up costs more than it saves."""


def pil_extensions() -> tuple[str, ...]:
    """Every file extension (lower case) of a format PIL can open."""
    from PIL import Image

    Image.init()
    return tuple(sorted(ext for ext, fmt in Image.registered_extensions().items()
                        if fmt in Image.OPEN))


def image_channels(path: str | Path) -> int:
    """1 when the image at ``path`` is greyscale (by its PIL mode), else 3; reads the header."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return 1 if img.mode in GREY_MODES else 3
    except Exception as err:  # noqa: BLE001  (decode_image names the file and the fix)
        raise ConfigError(f"cannot decode image {path} ({err.__class__.__name__}: {err}); "
                          "remove or replace the file") from None


def _to_mode(img, channels: int):
    """``img`` as PIL mode L or RGB; 16/32-bit greyscale scaled to 8 bits, not clipped."""
    from PIL import Image

    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        a = np.asarray(img, dtype=np.float64)
        top = 1.0 if img.mode == "F" else 65535.0
        img = Image.fromarray(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    return img.convert("L" if channels == 1 else "RGB")


def decode_array(path: str | Path, size: int, channels: int = 3) -> np.ndarray:
    """The image at ``path`` as uint8 (size, size, channels): shorter side to ``size``, centre
    crop. A ``ConfigError`` naming the file when PIL cannot read it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            mode = "L" if channels == 1 else "RGB"
            img.draft(mode, (size, size))
            if img.mode != mode:     # convert() to the same mode copies: costly on tiny images
                img = _to_mode(img, channels)
            w, h = img.size
            if (w, h) != (size, size):
                scale = size / min(w, h)
                img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))),
                                 Image.BILINEAR)
                left, top = (img.width - size) // 2, (img.height - size) // 2
                img = img.crop((left, top, left + size, top + size))
            array = np.asarray(img, dtype=np.uint8)
    # PIL reports damaged files in many ways: OSError ("image file is truncated"), SyntaxError
    # and struct.error from its parsers, zlib.error from PNG data, EOFError, a decompression bomb.
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError, struct.error,
            zlib.error, Image.DecompressionBombError) as err:
        error = ConfigError(f"cannot decode image {path} ({err.__class__.__name__}: {err}); "
                            "remove or replace the file")
        error.reason = err.__class__.__name__       # for the short list of decode_many
        raise error from None
    return array.reshape(size, size, channels)


def decode_image(path: str | Path, size: int, channels: int = 3) -> torch.Tensor:
    """The image at ``path`` as uint8 (channels, size, size) (see ``decode_array``)."""
    return torch.from_numpy(decode_array(path, size, channels).copy()).permute(2, 0, 1).contiguous()


def _decode_chunk(job: tuple[list[str], int, int]) -> tuple[np.ndarray, list[tuple[int, str, str]]]:
    """Worker: images (n, C, S, S) of ``paths``; failures as (position, message, reason), not
    raised, so the caller can list every unreadable file at once."""
    paths, size, channels = job
    out = np.zeros((len(paths), channels, size, size), dtype=np.uint8)
    bad = []
    for i, p in enumerate(paths):
        try:
            out[i] = decode_array(p, size, channels).transpose(2, 0, 1)
        except ConfigError as err:
            bad.append((i, str(err), getattr(err, "reason", "error")))
    return out, bad


def default_workers() -> int:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(16, cpus or 1))


def unreadable_error(bad: Sequence[tuple[str, str, str]], shown: int = 3) -> ConfigError:
    """One line naming the first ``shown`` (path, message, reason) files that failed to decode."""
    if len(bad) == 1:
        return ConfigError(bad[0][1])
    first = ", ".join(f"{path} ({reason})" for path, _, reason in bad[:shown])
    more = f" and {len(bad) - shown} more" if len(bad) > shown else ""
    return ConfigError(f"cannot decode {len(bad)} images: {first}{more}; remove or replace "
                       "these files")


def decode_many(paths: Sequence[str | Path], size: int, channels: int = 3,
                workers: int | None = None, progress: bool = True) -> torch.Tensor:
    """All images at ``paths`` as one uint8 tensor (N, channels, size, size), in order.

    Decoded in chunks by a process pool (tiny images are bound by Python, not libpng, so
    threads would not help); a ``ConfigError`` listing the first unreadable files, if any.
    """
    from tqdm.auto import tqdm

    paths = [str(p) for p in paths]
    n, workers = len(paths), workers or default_workers()
    out = np.empty((n, channels, size, size), dtype=np.uint8)
    chunk = max(32, min(1024, -(-n // (workers * 8)) if n else 1))
    starts = range(0, n, chunk)
    jobs = [(paths[s:s + chunk], size, channels) for s in starts]
    bad: list[tuple[str, str, str]] = []
    bar = tqdm(total=n, desc=f"decoding {n} images", unit="img", disable=not progress or n < 5000)

    def collect(results) -> None:
        for s, (arr, errs) in zip(starts, results):
            out[s:s + len(arr)] = arr
            bad.extend((paths[s + i], msg, reason) for i, msg, reason in errs)
            bar.update(len(arr))

    if workers == 1 or n < SERIAL_BELOW:
        collect(map(_decode_chunk, jobs))
    else:
        # fork where there is one: workers need no re-import (spawn costs seconds of imports).
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=ctx) as pool:
            collect(pool.map(_decode_chunk, jobs))
    bar.close()
    if bad:
        raise unreadable_error(bad)
    return torch.from_numpy(out)


class FolderImages:
    """uint8 images (N, channels, size, size) read from ``paths`` when they are needed."""

    dtype = torch.uint8
    ndim = 4

    def __init__(self, paths: Sequence[str | Path], size: int, channels: int = 3) -> None:
        self.paths = [str(p) for p in paths]
        self.size = int(size)
        self.channels = int(channels)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.paths), self.channels, self.size, self.size))

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"FolderImages({len(self)} images, {self.channels} x {self.size} px)"

    def __getitem__(self, index) -> torch.Tensor | FolderImages:
        if isinstance(index, (int, np.integer)) or (isinstance(index, torch.Tensor) and index.ndim == 0):
            return decode_image(self.paths[int(index)], self.size, self.channels)
        if isinstance(index, slice):
            return FolderImages(self.paths[index], self.size, self.channels)
        idx = torch.as_tensor(index)
        if idx.dtype == torch.bool:
            idx = idx.nonzero().squeeze(1)
        return FolderImages([self.paths[i] for i in idx.tolist()], self.size, self.channels)

    def materialize(self, workers: int | None = None) -> torch.Tensor:
        """All images decoded into one uint8 tensor (N, channels, size, size)."""
        return decode_many(self.paths, self.size, self.channels, workers)

    def to(self, *args, **kwargs) -> torch.Tensor:
        """Decode (``materialize``) and move, like ``Tensor.to``."""
        return self.materialize().to(*args, **kwargs)


def scan_classes(root: Path, classes: Sequence[str],
                 extensions: Sequence[str] = EXTENSIONS) -> tuple[list[str], torch.Tensor]:
    """Paths and labels of ``root/<class>/*.<extension>`` for the given class folders, in order
    (hidden files skipped).

    Raises ``ConfigError`` naming the missing or empty class folders.
    """
    missing = [c for c in classes if not (root / c).is_dir()]
    if missing:
        raise ConfigError(f"{root} lacks {len(missing)} of {len(classes)} class folders (e.g. "
                          f"{', '.join(missing[:3])}); it must hold one folder per class")
    ext = tuple(e.lower() for e in extensions)
    shown = ", ".join(ext) if len(ext) <= 8 else ", ".join(EXTENSIONS) + ", ... any format PIL reads"
    paths, labels = [], []
    for label, c in enumerate(classes):
        visible = [e for e in os.scandir(root / c) if not e.name.startswith(".")]
        entries = [e for e in visible if e.name.lower().endswith(ext)]
        # Only the images directly in a class folder are read; torchvision's ImageFolder reads
        # nested ones too, so a folder laid out for it lost them in silence.
        nested = sorted(e.name + "/" for e in visible if e.is_dir())
        if nested:
            warnings.warn(f"{root / c} holds folders ({', '.join(nested[:3])}"
                          f"{', ...' if len(nested) > 3 else ''}) whose images are not read: "
                          "only images directly in a class folder are; move them up to use "
                          "them", stacklevel=2)
        # An image name whose link leads nowhere (a dataset store not mounted, a moved file)
        # is a missing image, not another kind of file to skip: the class would silently shrink.
        broken = sorted(e.path for e in entries if e.is_symlink() and not os.path.exists(e.path))
        if broken:
            raise ConfigError(f"{len(broken)} image link(s) in {root / c} lead to no file (e.g. "
                              f"{broken[0]} -> {os.readlink(broken[0])}); restore their targets "
                              "or remove the links")
        files = sorted(e.path for e in entries if e.is_file())
        if not files:
            raise ConfigError(f"class folder {root / c} has no images ({shown}); add its images "
                              "or remove the folder")
        paths += files
        labels += [label] * len(files)
    return paths, torch.tensor(labels, dtype=torch.int64)
