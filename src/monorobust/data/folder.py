"""Images decoded from files on demand: a lazy, tensor-like stand-in for uint8 (N, 3, S, S).

ImageNet-100 at 224 px is 19 GB as uint8, more than small machines hold. ``FolderImages`` keeps
only the file paths. It behaves like the uint8 image tensor the rest of the package expects
where that matters:

- ``len``, ``shape``, ``dtype``, ``ndim``, as a tensor's;
- ``x[i]`` (an int) decodes one image, (3, S, S) uint8, so it is a map-style dataset that
  DataLoader workers decode in parallel (``train.batches.Streaming``);
- ``x[slice]``, ``x[index_tensor]`` give a lazy subset (no decoding), so splits stay lazy;
- ``x.to(device)`` / ``x.materialize()`` decode everything (threads; PIL releases the GIL).

Decoding: RGB, the shorter side resized to S (JPEG ``draft`` first, which lets libjpeg decode at
a reduced scale: several times faster on large photos), then the centre S x S square.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from monorobust.errors import ConfigError

EXTENSIONS = (".jpeg", ".jpg", ".png", ".bmp", ".webp")


def decode_image(path: str | Path, size: int) -> torch.Tensor:
    """The image at ``path`` as uint8 (3, size, size): shorter side to ``size``, centre crop."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.draft("RGB", (size, size))
            img = img.convert("RGB")
            w, h = img.size
            scale = size / min(w, h)
            img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))),
                             Image.BILINEAR)
            left, top = (img.width - size) // 2, (img.height - size) // 2
            img = img.crop((left, top, left + size, top + size))
            array = np.asarray(img, dtype=np.uint8).copy()
    # PIL reports damaged files in many ways: OSError ("image file is truncated"), SyntaxError
    # and struct.error from its parsers, zlib.error from PNG data, EOFError, a decompression bomb.
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError, struct.error,
            zlib.error, Image.DecompressionBombError) as err:
        raise ConfigError(f"cannot decode image {path} ({err.__class__.__name__}: {err}); "
                          "remove or replace the file") from None
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


class FolderImages:
    """uint8 images (N, 3, size, size) read from ``paths`` when they are needed."""

    dtype = torch.uint8
    ndim = 4

    def __init__(self, paths: Sequence[str | Path], size: int) -> None:
        self.paths = [str(p) for p in paths]
        self.size = int(size)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.paths), 3, self.size, self.size))

    def __len__(self) -> int:
        return len(self.paths)

    def __repr__(self) -> str:
        return f"FolderImages({len(self)} images, {self.size} px)"

    def __getitem__(self, index) -> torch.Tensor | FolderImages:
        if isinstance(index, (int, np.integer)) or (isinstance(index, torch.Tensor) and index.ndim == 0):
            return decode_image(self.paths[int(index)], self.size)
        if isinstance(index, slice):
            return FolderImages(self.paths[index], self.size)
        idx = torch.as_tensor(index)
        if idx.dtype == torch.bool:
            idx = idx.nonzero().squeeze(1)
        return FolderImages([self.paths[i] for i in idx.tolist()], self.size)

    def materialize(self, threads: int | None = None) -> torch.Tensor:
        """All images decoded into one uint8 tensor (N, 3, size, size)."""
        out = torch.empty(tuple(self.shape), dtype=torch.uint8)
        if not self.paths:
            return out
        threads = threads or min(16, os.cpu_count() or 1)

        def fill(i: int) -> None:
            out[i] = decode_image(self.paths[i], self.size)

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(fill, range(len(self.paths))))
        return out

    def to(self, *args, **kwargs) -> torch.Tensor:
        """Decode (``materialize``) and move, like ``Tensor.to``."""
        return self.materialize().to(*args, **kwargs)


def scan_classes(root: Path, classes: Sequence[str]) -> tuple[list[str], torch.Tensor]:
    """Paths and labels of ``root/<class>/*.<image ext>`` for the given class folders, in order.

    Raises ``ConfigError`` naming the missing or empty class folders.
    """
    missing = [c for c in classes if not (root / c).is_dir()]
    if missing:
        raise ConfigError(f"{root} lacks {len(missing)} of {len(classes)} class folders (e.g. "
                          f"{', '.join(missing[:3])}); it must hold one folder per class")
    paths, labels = [], []
    for label, c in enumerate(classes):
        files = sorted(e.path for e in os.scandir(root / c)
                       if e.is_file() and e.name.lower().endswith(EXTENSIONS))
        if not files:
            raise ConfigError(f"class folder {root / c} has no images ({', '.join(EXTENSIONS)})")
        paths += files
        labels += [label] * len(files)
    return paths, torch.tensor(labels, dtype=torch.int64)
