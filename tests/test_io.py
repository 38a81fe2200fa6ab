"""Atomic writes: nothing half-written, ordinary permissions."""


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
