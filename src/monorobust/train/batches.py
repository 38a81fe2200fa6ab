"""Where pretraining batches come from: a tensor on the device, or a stream decoded by workers.

Both sources take the same epoch order (a permutation drawn on the CPU from ``(seed, epoch)``)
and give process ``rank`` of ``world`` the same rows: step s uses
``order[(s * world + rank) * B : (s * world + rank + 1) * B]``, so the W processes of a step
together see one global batch of W*B distinct images, and a streamed run sees exactly the
batches of an in-memory one. Each yields uint8 (B, C, H, W) batches on the device; the
augmentation then runs on the device, in batches, for both.

- ``InMemory``: the whole uint8 tensor is moved to the device once; a batch is an index op.
  Right for Fashion-MNIST and CIFAR (150 MB as uint8).
- ``Streaming``: a ``DataLoader`` whose workers decode images (e.g. JPEGs of an image folder) to
  uint8 tensors, in pinned memory, copied to the device without blocking. Right for ImageNet-100,
  which does not fit in memory at 224 px on small machines.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from monorobust.errors import ConfigError
from monorobust.seeding import derive_seed


def epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The permutation (n,) of epoch ``epoch``: the same on every process and after a resume."""
    gen = torch.Generator().manual_seed(derive_seed(seed, epoch))
    return torch.randperm(n, generator=gen)


def augment_generator(seed: int, epoch: int, rank: int, device: torch.device) -> torch.Generator:
    """The generator of this process's augmentations in this epoch.

    Seeded by (seed, epoch, rank): processes draw independent views (one shared generator would
    give image i of every shard the same crop), and a resumed epoch redraws the same views.
    """
    return torch.Generator(device=device).manual_seed(derive_seed(seed, epoch, rank + 1))


def _rows(order: torch.Tensor, step: int, world: int, rank: int, batch_size: int) -> torch.Tensor:
    start = (step * world + rank) * batch_size
    return order[start:start + batch_size]


class InMemory:
    """uint8 images (N, C, H, W) kept on the device."""

    def __init__(self, images: torch.Tensor, device: torch.device) -> None:
        self.data = images.to(device)

    def batches(self, order: torch.Tensor, steps: int, world: int, rank: int,
                batch_size: int) -> Iterator[torch.Tensor]:
        order = order.to(self.data.device)
        for step in range(steps):
            yield self.data[_rows(order, step, world, rank, batch_size)]


class _EpochBatches(torch.utils.data.Sampler):
    """Batch sampler whose order is set before each epoch (it runs in the main process)."""

    def __init__(self, world: int, rank: int, batch_size: int) -> None:
        self.world, self.rank, self.batch_size = world, rank, batch_size
        self.order, self.steps = torch.empty(0, dtype=torch.long), 0

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.steps):
            yield _rows(self.order, step, self.world, self.rank, self.batch_size).tolist()

    def __len__(self) -> int:
        return self.steps


class Streaming:
    """Images decoded by DataLoader workers: ``dataset[i]`` is a uint8 (C, H, W) tensor."""

    def __init__(self, dataset: Sequence, device: torch.device, world: int, rank: int,
                 batch_size: int, workers: int) -> None:
        self.device = device
        self.sampler = _EpochBatches(world, rank, batch_size)
        pin = device.type == "cuda"
        self.loader = torch.utils.data.DataLoader(
            dataset, batch_sampler=self.sampler, num_workers=workers, pin_memory=pin,
            persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None)

    def batches(self, order: torch.Tensor, steps: int, world: int, rank: int,
                batch_size: int) -> Iterator[torch.Tensor]:
        self.sampler.order, self.sampler.steps = order, steps
        try:
            for batch in self.loader:
                yield batch.to(self.device, non_blocking=True)
        except ConfigError as err:           # e.g. a worker met an image it cannot decode
            raise ConfigError(worker_error_line(str(err))) from None


def worker_error_line(message: str) -> str:
    """The original one-line message of a ConfigError a DataLoader worker raised.

    DataLoader re-raises a worker's exception with the worker's whole traceback as its message;
    the user should see the error line alone, as for any other ConfigError.
    """
    prefix = f"{ConfigError.__module__}.{ConfigError.__name__}: "
    lines = [line for line in message.splitlines() if line.startswith(prefix)]
    return lines[-1].removeprefix(prefix) if lines else message


def make_source(images, device: torch.device, world: int, rank: int, batch_size: int,
                workers: int) -> InMemory | Streaming:
    """``InMemory`` for a tensor; ``Streaming`` for a dataset of uint8 images (lazy folders)."""
    if isinstance(images, torch.Tensor):
        return InMemory(images, device)
    return Streaming(images, device, world, rank, batch_size, workers)
