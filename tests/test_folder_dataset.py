"""Your own data: ``--dataset folder`` (an image folder) and ``--dataset arrays`` (an .npz)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from monorobust.cli import main
from monorobust.config import DataConfig, load_config
from monorobust.data import folder, image_folder, load_dataset
from monorobust.errors import ConfigError

CLASSES = ("bee", "ant", "cat")          # written unsorted; labels follow sorted names


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """Every test gets its own image cache."""
    monkeypatch.setenv("MONOROBUST_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def write_folder(root, mode="RGB", n_train=12, n_test=6, test_name="test", classes=CLASSES,
                 size=(20, 24)):
    """Class c's images have colour channel c (grey: brightness) raised, so classes differ."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), (test_name, n_test)):
        for name in classes:
            c = sorted(classes).index(name)
            d = root / split / name
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                a = rng.integers(0, 60, (size[1], size[0], 3), np.uint8)
                a[..., c] += 150
                img = Image.fromarray(a)
                img = img.convert("L") if mode == "L" else img
                img.save(d / f"{i}.png")
    return root


@pytest.mark.parametrize("mode,channels", [("L", 1), ("RGB", 3)])
def test_folder_reads_grey_and_colour(tmp_path, mode, channels):
    write_folder(tmp_path / "d", mode, test_name="val")             # val/ works as test/
    (tmp_path / "d" / "train" / "notes.txt").write_text("ignored")
    ds = load_dataset("folder", tmp_path / "d")
    assert ds.classes == ("ant", "bee", "cat")
    assert ds.image_shape == (channels, image_folder.DEFAULT_SIZE, image_folder.DEFAULT_SIZE)
    assert len(ds.train) == 36 and len(ds.test) == 18 and ds.train.images.dtype == torch.uint8
    assert torch.bincount(ds.train.labels).tolist() == [12, 12, 12]
    assert ds.train.labels[:12].unique().numel() > 1                # shuffled, not by class
    if channels == 3:       # class c has channel c raised
        means = ds.test.images.float().mean((2, 3))
        assert (means.argmax(1) == ds.test.labels).all()
    other = load_dataset("folder", tmp_path / "d", image_size=16, channels=4 - channels)
    assert other.image_shape == (4 - channels, 16, 16)


def test_cache_is_reused_and_renewed_when_a_file_changes(tmp_path, monkeypatch, cache):
    root = write_folder(tmp_path / "d")
    first = load_dataset("folder", root, image_size=16)
    assert len(list((cache / "folders").glob("*.safetensors"))) == 2     # train, test

    def fail(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(folder, "decode_many", fail)
    again = load_dataset("folder", root, image_size=16)
    assert torch.equal(first.train.images, again.train.images)
    assert torch.equal(first.test.labels, again.test.labels)
    img = root / "train" / "ant" / "0.png"
    os.utime(img, ns=(img.stat().st_atime_ns, img.stat().st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="decoded again"):
        load_dataset("folder", root, image_size=16)
    with pytest.raises(AssertionError, match="decoded again"):       # other size: other key
        load_dataset("folder", root, image_size=12)


def test_damaged_cache_is_decoded_again(tmp_path, cache):
    root = write_folder(tmp_path / "d")
    first = load_dataset("folder", root, image_size=16)
    for f in (cache / "folders").glob("*.safetensors"):
        f.write_bytes(f.read_bytes()[:100])
    with pytest.warns(UserWarning, match="damaged"):
        again = load_dataset("folder", root, image_size=16)
    assert torch.equal(first.test.images, again.test.images)


def test_a_flipped_byte_in_the_image_cache_is_decoded_again(tmp_path, cache):
    """The cache had no checksum: a flipped byte was a changed pixel, read without a word."""
    root = write_folder(tmp_path / "d")
    first = load_dataset("folder", root, image_size=16)
    for f in (cache / "folders").glob("*.safetensors"):
        raw = f.read_bytes()
        f.write_bytes(raw[:-10] + bytes([raw[-10] ^ 0x01]) + raw[-9:])
    with pytest.warns(UserWarning, match="damaged"):
        again = load_dataset("folder", root, image_size=16)
    assert torch.equal(first.test.images, again.test.images)
    assert torch.equal(first.train.images, again.train.images)


def test_large_training_split_streams(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "d")
    monkeypatch.setattr(image_folder, "CACHE_LIMIT_BYTES", 20 * 3 * 16 * 16)
    ds = load_dataset("folder", root, image_size=16)
    assert isinstance(ds.train.images, folder.FolderImages) and ds.train.images.shape == (36, 3, 16, 16)
    assert isinstance(ds.test.images, torch.Tensor)                   # always in memory
    assert ds.train.images[0].shape == (3, 16, 16)


def test_decode_many_in_a_pool_equals_one_by_one(tmp_path):
    root = write_folder(tmp_path / "d", n_train=200, n_test=2)
    paths = sorted(str(p) for p in (root / "train").rglob("*.png"))
    pooled = folder.decode_many(paths, 16, 3, workers=2)      # 600 >= SERIAL_BELOW: a pool
    assert len(paths) >= folder.SERIAL_BELOW
    assert torch.equal(pooled[::97], torch.stack([folder.decode_image(p, 16) for p in paths[::97]]))


def folder_error(tmp_path, edit, match):
    root = write_folder(tmp_path / "d")
    edit(root)
    with pytest.raises(ConfigError, match=match) as err:
        load_dataset("folder", root)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_folder_errors(tmp_path):
    def remove(p):
        for f in p.iterdir():
            f.unlink()
        p.rmdir()

    folder_error(tmp_path / "a", lambda r: remove(r / "test" / "cat"),
                 r"class folders differ.*only in .*train: cat")
    folder_error(tmp_path / "b", lambda r: [f.unlink() for f in (r / "train" / "ant").iterdir()],
                 r"class folder .*train/ant has no images")
    folder_error(tmp_path / "c", lambda r: [f.unlink() for f in list((r / "test" / "bee").iterdir())[1:]],
                 r"class folder .*test/bee has 1 image; every class needs at least 2")

    def damage(r):
        for i in range(4):
            (r / "train" / "cat" / f"{i}.png").write_bytes(b"not a png")

    msg = folder_error(tmp_path / "e", damage, r"cannot decode 4 images: .*cat/0.png \(UnidentifiedImageError\), .* and 1 more")
    assert "cat/1.png" in msg and "cat/3.png" not in msg
    folder_error(tmp_path / "f", lambda r: remove(r / "test" / "ant") or remove(r / "test" / "bee")
                 or remove(r / "test" / "cat") or (r / "test").rmdir(), "must hold train/<class>")
    with pytest.raises(ConfigError, match="pass --data-dir"):
        load_dataset("folder")
    with pytest.raises(ConfigError, match="fixed number of channels"):
        load_dataset("digits", channels=3)
    with pytest.raises(ConfigError, match="data.channels must be 1 or 3"):
        DataConfig(name="folder", channels=2)


def test_bad_folder_on_the_command_line_is_one_line_before_any_work(tmp_path, capsys):
    root = write_folder(tmp_path / "d")
    remove = root / "test" / "cat"
    for f in remove.iterdir():
        f.unlink()
    remove.rmdir()
    out = tmp_path / "run"
    assert main(["run", "--preset", "smoke", "--dataset", "folder", "--data-dir", str(root),
                 "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: class folders differ")
    assert not out.exists()


def write_npz(path, layout="nhwc", **change):
    rng = np.random.default_rng(0)
    y_train, y_test = np.repeat(np.arange(3), 10), np.repeat(np.arange(3), 4)
    shape = {"nhwc": (12, 12, 3), "nchw": (3, 12, 12), "nhw": (12, 12)}[layout]
    arrays = {"x_train": rng.integers(0, 256, (30, *shape), np.uint8), "y_train": y_train,
              "x_test": rng.integers(0, 256, (12, *shape), np.uint8), "y_test": y_test,
              "classes": np.array(["red", "green", "blue"])}
    arrays.update(change)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


@pytest.mark.parametrize("layout,channels", [("nhwc", 3), ("nchw", 3), ("nhw", 1)])
def test_arrays_route(tmp_path, layout, channels):
    path = write_npz(tmp_path / "a.npz", layout)
    ds = load_dataset("arrays", path)
    assert ds.classes == ("red", "green", "blue") and ds.image_shape == (channels, 12, 12)
    assert len(ds.train) == 30 and ds.test.labels.tolist() == np.repeat(np.arange(3), 4).tolist()
    raw = np.load(path)["x_train"]
    first = {"nhwc": lambda a: a.transpose(2, 0, 1), "nchw": lambda a: a,
             "nhw": lambda a: a[None]}[layout](raw[0])
    assert np.array_equal(ds.train.images[0].numpy(), first)
    assert load_dataset("arrays", path, channels=4 - channels).image_shape == (4 - channels, 12, 12)
    assert DataConfig(name="arrays", data_dir=str(path)).data_dir == str(path.resolve())


def test_arrays_errors(tmp_path):
    def error(match, **change):
        path = write_npz(tmp_path / "e.npz", **change)
        with pytest.raises(ConfigError, match=match) as err:
            load_dataset("arrays", path)
        assert "\n" not in str(err.value)

    error("lacks y_test", y_test=None)
    error("x_train has dtype float32; uint8", x_train=np.zeros((30, 12, 12, 3), np.float32))
    error(r"x_test has shape \(12, 5, 12, 12\)", x_test=np.zeros((12, 5, 12, 12), np.uint8))
    error("square images", x_train=np.zeros((30, 12, 10, 3), np.uint8))
    error(r"y_train has dtype float64", y_train=np.zeros(30))
    error(r"class 2 \(blue\) has 0 images in y_test \(it is in y_train only\)",
          y_test=np.array([0, 0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 1]))
    error(r"class 1 \(green\) has 1 images in y_train",
          y_train=np.array([0] * 14 + [1] + [2] * 15))
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ConfigError, match="not a readable .npz"):
        load_dataset("arrays", tmp_path / "junk.npz")
    with pytest.raises(ConfigError, match="is not a file"):
        DataConfig(name="arrays", data_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="fixed resolution"):
        load_dataset("arrays", tmp_path / "e.npz", image_size=16)


BASE = ["--preset", "smoke", "--seeds", "0", "--quiet"]
SMALL = [*BASE, "--set", "data.image_size=16", "--set", "pretrain.batch_size=16",
         "--set", "pretrain.epochs=2", "--set", "sae.epochs=5", "--set", "probe.steps=50",
         "--set", "grid.scenarios={clean: [0], label_noise: [0.4], gaussian_noise: [0.3], "
                  "few_shot: [1], corrupt: [3]}"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_run_and_report_on_an_image_folder(tmp_path, mode, cache):
    from monorobust.report.load import load_run
    from monorobust.report.sections import make_context

    root = write_folder(tmp_path / "my images", mode)
    out = tmp_path / "run"
    assert main(["run", "--dataset", "folder", "--data-dir", str(root), "--out", str(out),
                 "--no-report", *SMALL]) == 0
    cfg = load_config(str(out / "config.yaml"))
    assert (cfg.data.name, cfg.data.data_dir, cfg.data.image_size) == ("folder", str(root), 16)
    assert len((out / "results.jsonl").read_text().splitlines()) == 3 * 5
    ctx = make_context(load_run(out))      # what the gallery shows: the user's images and names
    assert ctx.classes == ["ant", "bee", "cat"] and not ctx.notes
    assert ctx.images.shape == (18, 1 if mode == "L" else 3, 16, 16)
    assert torch.equal(ctx.images, load_dataset("folder", root, image_size=16).test.images)
    if mode == "RGB":       # the report in a fresh process, elsewhere: config.yaml is enough
        done = subprocess.run([sys.executable, "-m", "monorobust", "report", str(out)],
                              cwd=root / "train", env={**os.environ, "MONOROBUST_CACHE": str(cache)},
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        md = (out / "report.md").read_text()
        assert "could not be loaded" not in md and (out / "figures" / "gallery_ncl.png").is_file()
    # a rerun of the same command finds every row done
    assert main(["run", "--dataset", "folder", "--data-dir", str(root), "--out", str(out),
                 "--no-report", *SMALL]) == 0
    assert len((out / "results.jsonl").read_text().splitlines()) == 15


@pytest.mark.slow
def test_run_on_arrays(tmp_path):
    path = write_npz(tmp_path / "a.npz", "nhw", x_train=np.repeat(
        (np.repeat(np.arange(3), 10) * 80).astype(np.uint8)[:, None, None], 12, 1).repeat(12, 2))
    out = tmp_path / "run"
    assert main(["run", "--dataset", "arrays", "--data-dir", str(path), "--out", str(out),
                 *BASE, "--set", "pretrain.batch_size=16", "--no-report",
                 "--set", "grid.scenarios={clean: [0], label_noise: [0.4]}"]) == 0
    assert len((out / "results.jsonl").read_text().splitlines()) == 3 * 2


def test_a_streamed_split_pretrains_side_by_side_as_in_this_process(tmp_path, monkeypatch):
    """A training split that streams from disk goes to the worker processes as its list of
    paths; their DataLoader workers (processes of a worker) decode it."""
    import dataclasses

    from monorobust.train import pretrain
    from monorobust.train.parallel import PretrainJob, pretrain_side_by_side, threads_each

    root = write_folder(tmp_path / "d")
    monkeypatch.setattr(image_folder, "CACHE_LIMIT_BYTES", 20 * 3 * 16 * 16)
    images = load_dataset("folder", root, image_size=16).train.images
    assert isinstance(images, folder.FolderImages)
    cfg = dataclasses.replace(load_config("smoke").pretrain, processes=2, epochs=2, batch_size=8,
                              loader_workers=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        results = pretrain_side_by_side(images, cfg, [PretrainJob("cl", 0, tmp_path / "cl"),
                                                      PretrainJob("ncl", 0, tmp_path / "ncl")],
                                        progress=False)
        torch.set_num_threads(threads_each(cfg))
        here = pretrain(images, cfg, "ncl", 0, tmp_path / "here", progress=False)
    finally:
        torch.set_num_threads(threads)
    assert results[1].losses == here.losses
    ours = here.model.state_dict()
    assert all(torch.equal(results[1].model.state_dict()[k], ours[k]) for k in ours)


def test_an_image_link_that_leads_nowhere_is_an_error_and_a_good_link_is_read(tmp_path):
    """A symlinked image whose target is gone (a store not mounted) was skipped in silence,
    so its class shrank; a link to an image is an image."""
    def link(r):
        (r / "train" / "cat" / "lost.png").symlink_to(tmp_path / "no-such.png")

    folder_error(tmp_path / "a", link,
                 r"1 image link\(s\) in .*train/cat lead to no file \(e.g. .*lost.png -> "
                 r".*no-such.png\); restore their targets or remove the links")
    root = write_folder(tmp_path / "b")
    n = len(load_dataset("folder", root).train.labels)
    (root / "train" / "cat" / "extra.png").symlink_to(root / "train" / "cat" / "0.png")
    assert len(load_dataset("folder", root).train.labels) == n + 1


def test_a_cache_path_under_a_file_warns_and_reads_the_images(tmp_path, monkeypatch):
    """A cache that cannot be written costs a decode next time, not the run: with a file in
    the cache's path, cleaning up the temporary file raised NotADirectoryError (a traceback)."""
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("MONOROBUST_CACHE", str(tmp_path / "afile" / "cache"))
    root = write_folder(tmp_path / "d")
    with pytest.warns(UserWarning, match="cannot write the image cache .*set MONOROBUST_CACHE"):
        ds = load_dataset("folder", root)
    assert len(ds.train.labels) > 0


def test_images_in_a_nested_folder_are_named_in_a_warning(tmp_path):
    """torchvision's ImageFolder reads class/sub/*.png; here they were skipped in silence."""
    root = write_folder(tmp_path / "d")
    n = len(load_dataset("folder", root).train.labels)
    (root / "train" / "cat" / "extra").mkdir()
    (root / "train" / "cat" / "0.png").rename(root / "train" / "cat" / "extra" / "0.png")
    with pytest.warns(UserWarning, match=r"train/cat holds folders \(extra/\) whose images are "
                                         r"not read"):
        assert len(load_dataset("folder", root).train.labels) == n - 1
