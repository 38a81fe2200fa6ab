"""grid.corruption_calibration: CIFAR-10-C's tables (make_cifar_c.py's numbers) with their pixel
lengths scaled by min(H, W) / 32, ImageNet-C's via corrupt-tta unchanged, "auto" by size, and a
corruption without a CIFAR-10-C table refused before any work."""

import numpy as np
import pytest
import torch

from monorobust.errors import ConfigError
from monorobust.evaluate.config import GridConfig
from monorobust.perturb.calibration import CIFAR_10_C, resolve

corrupt_tta = pytest.importorskip("corrupt_tta")

from monorobust.perturb import corrupt, corrupt_each, corruption_ops as ops, shift  # noqa: E402
from monorobust.perturb import calibration, corruption_weather as weather  # noqa: E402
from monorobust.perturb.calibration import cifar_10_c                 # noqa: E402

DEFAULT_SIX = ("contrast", "fog", "pixelate", "motion_blur", "jpeg_compression",
               "elastic_transform")


def _batch(size: int, channels: int = 1, n: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(size)
    coarse = torch.rand(n, channels, size // 4 + 1, size // 4 + 1, generator=g)
    smooth = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear")
    return (smooth * 255).to(torch.uint8)


def test_the_tables_are_make_cifar_c_s():
    # hendrycks/robustness, ImageNet-C/create_c/make_cifar_c.py, value by value
    assert CIFAR_10_C["contrast"] == (.75, .5, .4, .3, 0.15)
    assert CIFAR_10_C["fog"] == ((.2, 3), (.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75))
    assert CIFAR_10_C["jpeg_compression"] == (80, 65, 58, 50, 40)
    assert CIFAR_10_C["pixelate"] == (0.95, 0.9, 0.85, 0.75, 0.65)
    assert CIFAR_10_C["motion_blur"] == ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5))
    assert CIFAR_10_C["gaussian_blur"] == (.4, .6, .7, .8, 1)
    assert CIFAR_10_C["elastic_transform"][1] == (0.05, 0.2, 0.07)       # IMSIZE * these
    assert CIFAR_10_C["glass_blur"][4] == (0.4, 1, 2)
    assert CIFAR_10_C["defocus_blur"][3] == (1, 0.2)
    assert CIFAR_10_C["shot_noise"] == (500, 250, 100, 75, 50)
    assert CIFAR_10_C["saturate"][4] == (2.5, 0.2)
    assert CIFAR_10_C["zoom_blur"][4] == 1.26
    assert CIFAR_10_C["frost"][2] == (0.9, 0.4)
    assert CIFAR_10_C["snow"][4] == (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)
    assert CIFAR_10_C["spatter"][3] == (0.65, 0.1, 0.7, 0.69, 0.6, 1)
    assert all(len(t) == 5 for t in CIFAR_10_C.values())
    assert set(CIFAR_10_C) == set(corrupt_tta.corruption_dict)         # every name has a table


def _args_of(monkeypatch, op: str, size: int) -> list[tuple]:
    """The arguments ``cifar_10_c`` hands ``corruption_ops.<op>`` at severities 1-5."""
    seen = []
    module = weather if op in ("fog", "frost", "snow", "spatter") else ops
    real = getattr(module, op)
    monkeypatch.setattr(module, op, lambda x, *a: seen.append(a) or real(x, *a))
    img = np.zeros((size, size, 3), np.uint8)
    name = "motion_blur" if op == "wand_motion_blur" else op
    for severity in range(1, 6):
        cifar_10_c(img, name, severity)
    return seen


def test_motion_radius_is_6_to_9_px_at_32_and_0_875_of_that_at_28(monkeypatch):
    assert _args_of(monkeypatch, "wand_motion_blur", 32) == [(6, 1), (6, 1.5), (6, 2), (8, 2),
                                                               (9, 2.5)]
    at28 = _args_of(monkeypatch, "wand_motion_blur", 28)
    assert np.allclose(at28, [(6 * .875, 1 * .875), (6 * .875, 1.5 * .875), (6 * .875, 2 * .875),
                              (8 * .875, 2 * .875), (9 * .875, 2.5 * .875)])


def test_the_other_pixel_lengths_scale_with_the_size_and_nothing_else_does(monkeypatch):
    assert np.allclose(_args_of(monkeypatch, "elastic_transform", 28),
                       [(28 * a, 28 * s, 28 * j) for a, s, j in CIFAR_10_C["elastic_transform"]])
    assert np.allclose(_args_of(monkeypatch, "gaussian_blur", 28),
                       [(s * .875,) for s in CIFAR_10_C["gaussian_blur"]])
    assert np.allclose(_args_of(monkeypatch, "defocus_blur", 28),
                       [(r * .875, a) for r, a in CIFAR_10_C["defocus_blur"]])
    assert np.allclose(_args_of(monkeypatch, "glass_blur", 28),
                       [(s * .875, 1, n) for s, _, n in CIFAR_10_C["glass_blur"]])
    assert _args_of(monkeypatch, "glass_blur", 32) == list(CIFAR_10_C["glass_blur"])
    for op in ("contrast", "pixelate", "jpeg_compression", "gaussian_noise"):
        assert _args_of(monkeypatch, op, 28) == [(c,) for c in CIFAR_10_C[op]], op
    assert _args_of(monkeypatch, "fog", 28) == list(CIFAR_10_C["fog"])
    assert np.allclose(_args_of(monkeypatch, "snow", 28),
                       [(*c[:4], c[4] * .875, c[5] * .875, c[6]) for c in CIFAR_10_C["snow"]])
    assert np.allclose(_args_of(monkeypatch, "frost", 28),
                       [(a, b, 0.2 * .875, 5) for a, b in CIFAR_10_C["frost"]])
    assert np.allclose(_args_of(monkeypatch, "spatter", 28),        # mud: its blur scales
                       [(*c[:2], c[2] * .875, c[3], c[4] * (.875 if c[5] else 1), c[5])
                        for c in CIFAR_10_C["spatter"]])


@pytest.mark.parametrize("channels", [1, 3])
def test_imagenet_c_is_corrupt_tta_unchanged_bit_for_bit(channels):
    images = _batch(28, channels)
    for name in DEFAULT_SIX + ("gaussian_blur", "glass_blur", "zoom_blur", "shot_noise"):
        got = corrupt(images, name, 3, seed=11, calibration="imagenet-c")
        np.random.seed(11)
        for img, out in zip(images.permute(0, 2, 3, 1).numpy(), got.permute(0, 2, 3, 1)):
            rgb = np.repeat(img, 3, axis=2) if channels == 1 else img
            ref = np.clip(np.rint(corrupt_tta.corrupt(rgb, 3, name)), 0, 255).astype(np.uint8)
            if channels == 1:
                ref = ref.mean(axis=2, keepdims=True).round().astype(np.uint8)
            assert np.array_equal(out.numpy(), ref), name


def test_auto_picks_by_the_shorter_side():
    assert resolve("auto", 28, 28) == resolve("auto", 64, 500) == "cifar-10-c"
    assert resolve("auto", 65, 65) == resolve("auto", 224, 224) == "imagenet-c"
    assert resolve("imagenet-c", 28, 28) == "imagenet-c"
    assert resolve("cifar-10-c", 224, 224) == "cifar-10-c"
    small, large = _batch(28), _batch(72)
    for name in ("motion_blur", "fog"):
        assert torch.equal(corrupt(small, name, 2, 0), corrupt(small, name, 2, 0, "cifar-10-c"))
        assert not torch.equal(corrupt(small, name, 2, 0), corrupt(small, name, 2, 0, "imagenet-c"))
        assert torch.equal(corrupt(large, name, 2, 0), corrupt(large, name, 2, 0, "imagenet-c"))


def test_a_corruption_without_a_cifar_table_is_refused_before_any_work(monkeypatch):
    # every corrupt-tta name has one today; a name it adds later would not
    monkeypatch.delitem(calibration.CIFAR_10_C, "snow")
    monkeypatch.delitem(calibration.CIFAR_10_C, "frost")
    monkeypatch.delitem(calibration.CIFAR_10_C, "spatter")
    scen = {"corrupt": (1,)}
    with pytest.raises(ConfigError, match="grid.corruptions: snow has no cifar-10-c table here; "
                                          "use grid.corruption_calibration=imagenet-c or drop it"):
        GridConfig(scenarios=scen, corruptions=("contrast", "snow"),
                   corruption_calibration="cifar-10-c")
    with pytest.raises(ConfigError, match="grid.corruption_calibration must be one of"):
        GridConfig(corruption_calibration="cifar10c")
    GridConfig(scenarios=scen, corruptions=("snow",), corruption_calibration="imagenet-c")
    auto = GridConfig(scenarios=scen, corruptions=("frost",))      # size unknown: checked later

    from monorobust.data import load_dataset, make_splits
    from monorobust.evaluate import check_grid

    splits = make_splits(load_dataset("digits"), 0.2)
    with pytest.raises(ConfigError, match=r"frost has no cifar-10-c table here \(auto picks "
                                          r"cifar-10-c for \d+x\d+ images\)"):
        check_grid(auto, splits)
    monkeypatch.setattr(shift, "_corrupt_array", lambda *a: pytest.fail("worked before refusing"))
    with pytest.raises(ConfigError, match="spatter has no cifar-10-c table"):
        corrupt_each(_batch(28), [("contrast", 1, 0), ("spatter", 1, 0)])
    with pytest.raises(ConfigError, match="snow has no cifar-10-c table"):
        corrupt(_batch(200), "snow", 1, 0, calibration="cifar-10-c")
