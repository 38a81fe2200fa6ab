"""Atomic writes: nothing half-written, ordinary permissions."""

import pytest


def test_atomic_writes_leave_ordinary_permissions(tmp_path):
    import os

    from monorobust.io import atomic_write_text

    atomic_write_text(tmp_path / "a.txt", "x")
    mode = os.stat(tmp_path / "a.txt").st_mode & 0o777
    assert mode == 0o666 & ~_umask()


def _umask():
    import os

    current = os.umask(0)
    os.umask(current)
    return current


def test_atomic_directory_replaces_whole_or_leaves_the_old_one(tmp_path):
    import pytest

    from monorobust.io import atomic_directory

    target = tmp_path / "model"
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("1")
    assert (target / "a").read_text() == "1"
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            (tmp / "b").write_text("2")
            raise RuntimeError("crash while writing")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]          # no leftovers


def test_a_checked_cache_reads_back_and_a_damaged_one_is_computed_again(tmp_path):
    """The frozen backbone's feature cache and head had no checksum: a flipped byte was read as
    a feature, and a truncated file was a SafetensorError traceback (not among the caught
    errors)."""
    import torch
    from safetensors.torch import save

    from monorobust.io import IntegrityWarning, checked_cache_bytes, read_checked_cache

    path = tmp_path / "cache.safetensors"
    tensors = {"train": torch.arange(64.0).view(8, 8), "labels": torch.arange(8)}
    assert read_checked_cache(path) is None                          # none yet
    path.write_bytes(checked_cache_bytes(tensors))
    back = read_checked_cache(path)
    assert back.keys() == tensors.keys() and all(torch.equal(back[k], tensors[k]) for k in back)
    raw = path.read_bytes()
    for damaged in (raw[:-10] + bytes([raw[-10] ^ 0x01]) + raw[-9:], raw[:len(raw) // 2]):
        path.write_bytes(damaged)
        with pytest.warns(IntegrityWarning, match="cache .*cache.safetensors is damaged"):
            assert read_checked_cache(path) is None
    path.write_bytes(save(tensors))                                  # from before the checksum
    assert read_checked_cache(path) is None
