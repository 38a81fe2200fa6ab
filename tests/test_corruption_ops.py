"""The corruptions written here with their parameters as arguments: given ImageNet-C's 224-px
parameters they are corrupt-tta's bit for bit (which validates them for CIFAR-10-C's tables);
ImageMagick's motion-blur kernel; any size in range."""

import numpy as np
import pytest

pytest.importorskip("corrupt_tta")

import cv2                                                             # noqa: E402
import corrupt_tta                                                     # noqa: E402
from corrupt_tta.corruptions import cv2_motion_blur                    # noqa: E402

from monorobust.perturb import corruption_ops as ops, corruption_weather as weather  # noqa: E402
from monorobust.perturb.calibration import CIFAR_10_C, cifar_10_c      # noqa: E402

IMAGENET_C = {
    # corrupt-tta's tables (ImageNet-C's, 224 px), in corruption_ops' arguments
    "gaussian_blur": [(s,) for s in (1, 2, 3, 4, 6)],
    "glass_blur": [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)],
    "defocus_blur": [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)],
    "motion_blur": [(r,) for r in (10, 15, 15, 15, 20)],
    "elastic_transform": [(224 * a, 224 * s, 224 * j) for a, s, j in
                          [(2, 0.7, 0.1), (2, 0.08, 0.2), (0.05, 0.01, 0.02),
                           (0.07, 0.01, 0.02), (0.12, 0.01, 0.02)]],
    "gaussian_noise": [(c,) for c in (.08, .12, 0.18, 0.26, 0.38)],
    "shot_noise": [(c,) for c in (60, 25, 12, 5, 3)],
    "speckle_noise": [(c,) for c in (.15, .2, 0.35, 0.45, 0.6)],
    "contrast": [(c,) for c in (0.4, .3, .2, .1, .05)],
    "pixelate": [(c,) for c in (0.6, 0.5, 0.4, 0.3, 0.25)],
    "jpeg_compression": [(c,) for c in (25, 18, 15, 10, 7)],
    "zoom_blur": [(np.arange(1, 1.11, 0.01),), (np.arange(1, 1.16, 0.01),),
                  (np.arange(1, 1.21, 0.02),), (np.arange(1, 1.26, 0.02),),
                  (np.arange(1, 1.31, 0.03),)],
    "fog": [(c, 3) for c in (1.5, 2., 2.5, 2.5, 3.)],     # corrupt-tta's fog: wibbledecay 3
    "brightness": [(c,) for c in (.1, .2, .3, .4, .5)],
    "saturate": [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)],
}
WEATHER = ("fog",)


def test_hsv_corruptions_equal_make_cifar_c_s_skimage_hsv_to_float32_rounding():
    from skimage.color import hsv2rgb, rgb2hsv

    for img in _images(32):
        for shift in (0.05, 0.3):
            hsv = rgb2hsv(img / 255.)
            hsv[..., 2] = np.clip(hsv[..., 2] + shift, 0, 1)
            assert np.allclose(ops.brightness(img, shift), np.clip(hsv2rgb(hsv), 0, 1) * 255,
                               atol=1e-3)
        for factor, shift in ((0.1, 0), (2.5, 0.2)):
            hsv = rgb2hsv(img / 255.)
            hsv[..., 1] = np.clip(hsv[..., 1] * factor + shift, 0, 1)
            assert np.allclose(ops.saturate(img, factor, shift),
                               np.clip(hsv2rgb(hsv), 0, 1) * 255, atol=1e-3)


def test_zoom_blur_of_a_grey_image_once_is_the_same_as_per_channel():
    rgb, grey = _images(28)
    zooms = np.arange(1, 1.26, 0.01)
    mixed = np.dstack([grey[..., :1], rgb[..., :2]])           # not grey: channel by channel
    per_channel = ops.zoom_blur(mixed, zooms)[..., :1]
    assert np.array_equal(ops.zoom_blur(grey, zooms), np.repeat(per_channel, 3, axis=2))


def _images(size: int) -> list[np.ndarray]:
    """An RGB image and a greyscale one (three equal channels), smooth shapes plus noise."""
    rng = np.random.default_rng(size)
    coarse = rng.uniform(0, 255, (size // 8 + 1, size // 8 + 1, 3)).astype(np.float32)
    smooth = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_LINEAR)
    rgb = np.clip(smooth + rng.normal(0, 20, smooth.shape), 0, 255).astype(np.uint8)
    grey = np.repeat(rgb.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    return [rgb, grey]


def _seeded(fn, *args, seed: int = 5):
    np.random.seed(seed)
    return fn(*args)


@pytest.mark.parametrize("name", sorted(IMAGENET_C))
def test_with_imagenet_c_s_parameters_at_224_px_each_is_corrupt_tta_s_bit_for_bit(name):
    fn = getattr(weather if name in WEATHER else ops, name)
    for img in _images(224):
        for severity, params in enumerate(IMAGENET_C[name], start=1):
            ours = _seeded(fn, img, *params)
            theirs = _seeded(corrupt_tta.corrupt, img, severity, name)
            assert np.array_equal(ours, theirs), (name, severity)


def test_whole_radius_motion_kernel_is_corrupt_tta_s():
    img = _images(64)[0] / 255.
    for radius in range(0, 21):
        for angle in (-45.0, -12.3, 0.0, 30.7):
            assert np.array_equal(cv2.filter2D(img, -1, ops.motion_kernel(radius, angle)),
                                  cv2_motion_blur(img, radius, 0, angle)), (radius, angle)


@pytest.mark.parametrize("radius", [0.4, 1.25, 1.875, 2.5, 3.0])
def test_a_fractional_motion_kernel_is_centred_and_2r_plus_1_long(radius):
    k = ops.motion_kernel(radius, 0.0)
    half = int(np.ceil(radius))
    assert k.shape == (2 * half + 1, 2 * half + 1) and np.isclose(k.sum(), 1)
    row = k[half]
    assert np.isclose(row.sum(), 1) and np.isclose(row.sum() / row[half], 2 * radius + 1)
    assert np.allclose(row, row[::-1])                             # no shift of the image


def test_wand_motion_kernel_is_imagemagick_s_one_sided_gaussian_line():
    k = ops.wand_motion_kernel(6, 2, 0.0)                  # CIFAR-10-C's severity 3
    taps, half = 13, 12                                    # 2 ceil(6) + 1; centre
    assert k.shape == (2 * half + 1, 2 * half + 1) and np.isclose(k.sum(), 1)
    row = k[half]
    assert np.count_nonzero(k) == taps and np.count_nonzero(row[:half]) == 0   # one side only
    w = np.exp(-np.arange(taps) ** 2 / 8.0)
    assert np.allclose(row[half:], w / w.sum())
    diag = ops.wand_motion_kernel(8, 2, 45.0)              # offsets ceil(i cos 45 - 0.5)
    ys, xs = np.nonzero(diag)
    assert diag.shape == (33, 33) and np.array_equal(ys, xs)
    assert np.array_equal(np.unique(xs) - 16, np.unique(np.ceil(np.arange(17) * np.cos(np.pi / 4)
                                                                - 0.5)))
    # a bright pixel is smeared to one side along the angle, about sigma px, not the radius
    delta = np.zeros((32, 32, 3))
    delta[16, 20] = 255
    out = cv2.filter2D(delta / 255., -1, k, borderType=cv2.BORDER_REPLICATE)[..., 0]
    out[np.abs(out) < 1e-9] = 0                            # filter2D works in the DFT here
    assert np.array_equal(np.nonzero(out)[0], np.full(taps, 16))
    assert np.array_equal(np.nonzero(out[16])[0], np.arange(20 - 12, 21))
    centre = (out[16] * np.arange(32)).sum() / out.sum()
    assert np.isclose(centre, 20 - (w / w.sum() * np.arange(taps)).sum()) and 18 < centre < 19


def test_fog_s_fractal_follows_wibbledecay_and_the_image_s_size(monkeypatch):
    seen = []
    real = weather.plasma_fractal
    monkeypatch.setattr(weather, "plasma_fractal", lambda mapsize, wibbledecay: seen.append(
        (mapsize, wibbledecay)) or real(mapsize=mapsize, wibbledecay=wibbledecay))
    for size in (28, 32, 33):
        weather.fog(_images(size)[0], 0.5, 1.75)
    assert seen == [(32, 1.75), (32, 1.75), (64, 1.75)]


def test_impulse_noise_is_reproducible_from_the_global_seed():
    img = _images(32)[0]
    a, b = _seeded(ops.impulse_noise, img, 0.05), _seeded(ops.impulse_noise, img, 0.05)
    assert np.array_equal(a, b) and not np.array_equal(a, _seeded(ops.impulse_noise, img, 0.05,
                                                                   seed=6))


def test_frost_draws_make_cifar_c_s_five_textures_and_crops_one():
    seen = []
    real = weather._frost_texture
    weather._frost_texture = lambda i: seen.append(i) or real(i)
    try:
        black = np.zeros((28, 28, 3), np.uint8)
        crops = [_seeded(weather.frost, black, 1, 1, 0.175, 5, seed=s) for s in range(60)]
    finally:
        weather._frost_texture = real
    assert set(seen) == {1, 2, 3, 4, 5}
    assert all(c.shape == (28, 28, 3) and c.std() > 0 for c in crops)  # a crop of a texture


def test_spatter_without_a_droplet_adds_nothing():
    img = _images(32)[0]
    for mud in (False, True):
        out = _seeded(weather.spatter, img, 0.0, 0.01, 1.0, 0.9, 0.5, mud)
        assert np.isfinite(out).all() and np.allclose(out, img, atol=1e-4), mud


def test_snow_adds_flakes_and_greys_towards_white():
    img = _images(32)[1]
    out = _seeded(weather.snow, img, 0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)
    assert (out >= img - 1e-4).all() and out.mean() > img.mean() + 5


@pytest.mark.parametrize("shape", [(2, 2, 3), (9, 9, 3), (32, 20, 3), (20, 33, 3)])
def test_every_size_and_aspect_gives_an_image_in_range(shape):
    x = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    for name in CIFAR_10_C:
        for severity in range(1, 6):
            y = _seeded(cifar_10_c, x, name, severity)
            assert y.shape == shape and 0 <= y.min() and y.max() <= 255, (name, severity)
