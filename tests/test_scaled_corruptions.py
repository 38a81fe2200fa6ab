"""The corruptions whose ImageNet-C parameters are pixel lengths, scaled by the image's size / 224:
at 224 px bit for bit corrupt-tta's, at 28 px ImageNet-C's lengths relative to the size."""

import numpy as np
import pytest
import torch

pytest.importorskip("corrupt_tta")

import cv2                                                             # noqa: E402
import corrupt_tta                                                     # noqa: E402
from corrupt_tta.corruptions import cv2_motion_blur                    # noqa: E402
from skimage.filters import gaussian                                   # noqa: E402

from monorobust.perturb import corrupt, scaled_corruptions as sc       # noqa: E402
from monorobust.perturb.scaled_corruptions import SCALED, motion_kernel  # noqa: E402


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


@pytest.mark.parametrize("name", sorted(SCALED))
def test_at_224_px_each_equals_corrupt_tta_bit_for_bit(name):
    images = _images(224)
    for img in images:
        for severity in range(1, 6):
            ours = _seeded(SCALED[name], img, severity)
            theirs = _seeded(corrupt_tta.corrupt, img, severity, name)
            assert np.array_equal(ours, theirs), (name, severity)


def test_corrupt_at_224_px_equals_corrupt_tta_image_by_image_rgb_and_greyscale():
    rgb, _ = _images(224)
    x = torch.from_numpy(np.stack([rgb, rgb[::-1]])).permute(0, 3, 1, 2).contiguous()
    for images in (x, x[:, :1]):                                   # RGB; one channel
        for name in ("motion_blur", "elastic_transform"):
            got = corrupt(images, name, 3, seed=11)
            np.random.seed(11)
            for img, out in zip(images.permute(0, 2, 3, 1).numpy(), got.permute(0, 2, 3, 1)):
                rgb3 = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img
                ref = np.clip(np.rint(corrupt_tta.corrupt(rgb3, 3, name)), 0, 255).astype(np.uint8)
                if img.shape[2] == 1:
                    ref = ref.mean(axis=2, keepdims=True).round().astype(np.uint8)
                assert np.array_equal(out.numpy(), ref), (name, images.shape)


def test_whole_radius_motion_kernel_is_corrupt_tta_s():
    img = _images(64)[0] / 255.
    for radius in range(0, 21):
        for angle in (-45.0, -12.3, 0.0, 30.7):
            assert np.array_equal(cv2.filter2D(img, -1, motion_kernel(radius, angle)),
                                  cv2_motion_blur(img, radius, 0, angle)), (radius, angle)


@pytest.mark.parametrize("radius", [0.4, 1.25, 1.875, 2.5, 3.0])
def test_a_fractional_motion_kernel_is_centred_and_2r_plus_1_long(radius):
    k = motion_kernel(radius, 0.0)
    half = int(np.ceil(radius))
    assert k.shape == (2 * half + 1, 2 * half + 1) and np.isclose(k.sum(), 1)
    row = k[half]
    assert np.isclose(row.sum(), 1) and np.isclose(row.sum() / row[half], 2 * radius + 1)
    assert np.allclose(row, row[::-1])                             # no shift of the image


def test_motion_blur_at_28_px_uses_imagenet_c_radius_times_28_over_224():
    delta = np.zeros((28, 28, 3), np.uint8)
    delta[14, 14] = 255
    for severity, radius in [(1, 10), (2, 15), (5, 20)]:
        np.random.seed(3)
        angle = np.random.uniform(-45, 45)
        expected = np.clip(cv2.filter2D(delta / 255., -1, motion_kernel(radius * 28 / 224, angle)),
                           0, 1) * 255
        assert np.array_equal(_seeded(sc.motion_blur, delta, severity, seed=3), expected)
    spread = np.count_nonzero(_seeded(sc.motion_blur, delta, 5, seed=3)[..., 0] > 1e-9)
    assert spread <= 7 * 7                                          # r = 2.5, not 20


def test_elastic_transform_at_28_px_is_imagenet_c_s_with_28_for_224(monkeypatch):
    seen = {}
    real_affine, real_map = cv2.getAffineTransform, sc.map_coordinates

    def affine(src, dst):
        seen["jitter"] = dst - src
        return real_affine(src, dst)

    def mapping(image, indices, **kw):
        seen["indices"] = indices
        return real_map(image, indices, **kw)

    monkeypatch.setattr(sc.cv2, "getAffineTransform", affine)
    monkeypatch.setattr(sc, "map_coordinates", mapping)
    img = _images(224)[0][::8, ::8]                                  # 28 x 28
    for severity, (alpha, sigma, jitter) in enumerate([(2, 0.7, 0.1), (2, 0.08, 0.2),
                                                        (0.05, 0.01, 0.02), (0.07, 0.01, 0.02),
                                                        (0.12, 0.01, 0.02)], start=1):
        np.random.seed(9)
        drawn = np.random.uniform(-28 * jitter, 28 * jitter, size=(3, 2)).astype(np.float32)
        noise_x, noise_y = np.random.uniform(-1, 1, (28, 28)), np.random.uniform(-1, 1, (28, 28))
        _seeded(sc.elastic_transform, img, severity, seed=9)
        assert np.allclose(seen["jitter"], drawn, atol=1e-5)
        assert np.abs(seen["jitter"]).max() <= 28 * jitter             # 2.8 px at severity 1
        x, y = np.meshgrid(np.arange(28), np.arange(28))
        for field, grid, noise in ((seen["indices"][1], x, noise_x),
                                   (seen["indices"][0], y, noise_y)):
            expected = (gaussian(noise, 28 * sigma, mode="reflect", truncate=3) * 28 * alpha)
            assert np.allclose(field.reshape(28, 28) - grid, expected.astype(np.float32), atol=1e-4)


def test_blurs_at_28_px_scale_their_lengths(monkeypatch):
    img = _images(224)[0][::8, ::8]
    expected = np.clip(gaussian(img / 255., sigma=6 * 28 / 224, channel_axis=-1), 0, 1) * 255
    assert np.array_equal(sc.gaussian_blur(img, 5), expected)
    kernel = corrupt_tta.corruptions.disk(10 * 28 / 224, 0.5)
    expected = np.clip(cv2.filter2D(img / 255., -1, kernel), 0, 1) * 255
    assert np.array_equal(sc.defocus_blur(img, 5), expected)
    bounds = []
    real = np.random.randint
    monkeypatch.setattr(np.random, "randint", lambda lo, hi, size: bounds.append((lo, hi))
                        or real(lo, hi, size=size))
    for severity in range(1, 6):
        sc.glass_blur(img, severity)
    assert set(bounds) == {(-1, 1)}                  # 1-4 px x 0.125, at least a pixel


def test_at_28_px_motion_blur_grows_with_severity_and_is_weaker_than_unscaled():
    img = _images(224)[0][::8, ::8]
    change = [np.abs(_seeded(sc.motion_blur, img, s) - img).mean() for s in range(1, 6)]
    assert change[0] < change[1] < change[4]
    assert change[1] == change[2] == change[3]       # corrupt-tta ignores ImageNet-C's sigma
    unscaled = np.abs(_seeded(corrupt_tta.corrupt, img, 1, "motion_blur") - img).mean()
    assert change[0] < unscaled


def test_corrupt_dispatches_only_the_pixel_length_corruptions():
    x = torch.from_numpy(_images(224)[0][::8, ::8].copy()).permute(2, 0, 1)[None].contiguous()
    hwc = x[0].permute(1, 2, 0).numpy()

    def tta(name):
        ref = _seeded(corrupt_tta.corrupt, hwc, 3, name, seed=2)
        return torch.from_numpy(np.clip(np.rint(ref), 0, 255).astype(np.uint8)).permute(2, 0, 1)

    for name in ("contrast", "fog", "pixelate", "jpeg_compression", "zoom_blur"):
        assert torch.equal(corrupt(x, name, 3, seed=2)[0], tta(name)), name
    for name in sorted(SCALED):
        assert not torch.equal(corrupt(x, name, 3, seed=2)[0], tta(name)), name


@pytest.mark.parametrize("shape", [(2, 2, 3), (9, 9, 3), (32, 20, 3), (20, 33, 3)])
def test_every_size_and_aspect_gives_an_image_in_range(shape):
    x = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    for name, fn in SCALED.items():
        for severity in range(1, 6):
            y = _seeded(fn, x, severity)
            assert y.shape == shape and 0 <= y.min() and y.max() <= 255, (name, severity)
