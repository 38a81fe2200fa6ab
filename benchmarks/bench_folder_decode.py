"""Time reading an image folder of 60,000 28x28 PNGs with ``--dataset folder``.

    python benchmarks/bench_folder_decode.py [--n 60000] [--workers N] [--keep DIR]

Writes Fashion-MNIST (50,000 training + 10,000 test images, from monorobust's loader; random
images where it is not installed) as PNGs into ``DIR/train/<class>/`` and ``DIR/test/<class>/``,
then times, with an empty cache (``MONOROBUST_CACHE`` pointed at a fresh folder):

1. the first ``load_dataset("folder", DIR)``: scan, decode in a process pool, write the cache;
2. the second: scan, hash, read the cache;
3. PIL in a loop over the same files (``np.asarray(Image.open(p).convert("L"))``), the way one
   would write it by hand, for comparison.

The files were just written, so the OS page cache holds them in every timing ("cold" means no
monorobust cache, not a cold disk). Run by hand; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np


def source_images(n: int) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """(n, 28, 28) uint8 images, labels, class names and where they came from."""
    try:
        from monorobust.data import load_dataset

        ds = load_dataset("fashion-mnist")
        x = np.concatenate([ds.train.images[:, 0].numpy(), ds.test.images[:, 0].numpy()])
        y = np.concatenate([ds.train.labels.numpy(), ds.test.labels.numpy()])
        keep = np.r_[0:n - min(10000, n // 6), len(ds.train):len(ds.train) + min(10000, n // 6)]
        names = [c.replace("/", "-") for c in ds.classes]
        return x[keep], y[keep], names, "Fashion-MNIST"
    except Exception as err:  # noqa: BLE001  (any failure: fall back to random images)
        rng = np.random.default_rng(0)
        print(f"Fashion-MNIST unavailable ({err}); random images")
        return (rng.integers(0, 256, (n, 28, 28), np.uint8), rng.integers(0, 10, n),
                [f"class{c}" for c in range(10)], "random")


def _write(job: tuple[list[tuple[str, np.ndarray]]]) -> None:
    from PIL import Image

    for path, a in job:
        Image.fromarray(a, "L").save(path)


def write_folder(root: Path, x: np.ndarray, y: np.ndarray, names: list[str], n_test: int) -> None:
    jobs, split = [], ["train"] * (len(x) - n_test) + ["test"] * n_test
    for s in ("train", "test"):
        for c in names:
            (root / s / c).mkdir(parents=True, exist_ok=True)
    items = [(str(root / split[i] / names[y[i]] / f"{i:05d}.png"), x[i]) for i in range(len(x))]
    jobs = [items[i:i + 2000] for i in range(0, len(items), 2000)]
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(_write, jobs))


def pil_loop(paths: list[str]) -> np.ndarray:
    from PIL import Image

    return np.stack([np.asarray(Image.open(p).convert("L")) for p in paths])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60000, help="PNGs in all (1/6 of them test)")
    ap.add_argument("--workers", type=int, help="decoding processes (default: the usable CPUs)")
    ap.add_argument("--keep", help="write the folder here and keep it (default: a temp dir)")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    root = Path(args.keep or tmp.name) / "images"
    os.environ["MONOROBUST_CACHE"] = str(Path(tmp.name) / "cache")   # a fresh, empty cache

    import torch

    from monorobust.data import folder, load_dataset

    x, y, names, what = source_images(args.n)
    n_test = min(10000, args.n // 6)
    t = time.perf_counter()
    write_folder(root, x, y, names, n_test)
    print(f"wrote {len(x)} {what} PNGs (28x28) in {time.perf_counter() - t:.1f} s: {root}")
    workers = args.workers or folder.default_workers()
    if args.workers:
        folder.default_workers = lambda: args.workers      # noqa: E731  (this process only)
    print(f"{os.cpu_count()} CPUs, {workers} decoding processes, torch threads "
          f"{torch.get_num_threads()}")

    t = time.perf_counter()
    ds = load_dataset("folder", root, image_size=28)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    again = load_dataset("folder", root, image_size=28)
    cached = time.perf_counter() - t
    assert torch.equal(ds.train.images, again.train.images)
    paths = sorted(str(p) for p in root.rglob("*.png"))
    t = time.perf_counter()
    ref = pil_loop(paths)
    loop = time.perf_counter() - t
    assert ref.shape == (len(x), 28, 28) and ds.image_shape == (1, 28, 28)

    print(f"{'':34}{'seconds':>9}{'images/s':>11}{'vs PIL loop':>13}")
    for label, sec in (("first load (decode + cache)", cold), ("second load (cache)", cached),
                       ("PIL in a loop (decode only)", loop)):
        print(f"{label:34}{sec:9.2f}{len(x) / sec:11.0f}{loop / sec:12.1f}x")


if __name__ == "__main__":
    main()
