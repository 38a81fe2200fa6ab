"""ImageNet-C's corruptions whose parameters are lengths in pixels, scaled to the image's size.

ImageNet-C (Hendrycks & Dietterich 2019) sets these lengths for 224-px images; ``corrupt-tta``
applies them unchanged at any size, so on a 28-px image a motion blur of radius 15 px covers the
image and elastic_transform's severity 1 jitters its affine points by +-22 px. ImageNet-C's own
code writes elastic_transform's lengths as fractions of the image (``244 * 0.7``, 244 for 224,
as its comment says; its CIFAR-10-C and Tiny-ImageNet-C scripts write ``IMSIZE * a`` with
IMSIZE = 32 / 64, though with constants of their own, and re-chose the blurs by hand). Here
every such length of ImageNet-C's 224-px table is multiplied by ``s = min(H, W) / 224``, the
same rule at every size, no constant re-chosen:

- ``gaussian_blur``: sigma x s.
- ``glass_blur``: sigma x s, the largest pixel swap x s rounded to whole pixels and at least 1
  (a swap is between pixels; 1 is ImageNet-C's own smallest); the number of passes is a count,
  not a length, and stays.
- ``defocus_blur``: the disk's radius x s. Its ``alias_blur`` (a Gaussian of 0.1 / 0.5 px that
  smooths the disk's staircase on the pixel grid) is about the grid, not the image, and stays.
- ``motion_blur``: the radius x s. corrupt-tta's kernel is a uniform line of 2r + 1 pixels that
  ignores ImageNet-C's sigma (Wand weighted the line with it), so severities 2-4 (radius 15 at
  224 px) are the same corruption at every size; kept, to equal corrupt-tta. A fractional radius
  (r = 1.875 at 28 px) makes corrupt-tta's kernel an even width whose line is off its anchor,
  which shifts the image by a pixel; here the line has 2 ceil(r) + 1 pixels, its two end pixels
  weighted by the fraction of a pixel the radius reaches into them (whole radii: the same kernel).
- ``elastic_transform``: ImageNet-C's ``224 * a`` becomes ``min(H, W) * a`` (alpha, sigma and
  the affine jitter). The affine jitter and the field's smoothness scale with the size; the
  field's amplitude does not: it is alpha times per-pixel noise smoothed over sigma, which
  falls as 1 / sigma, and alpha / sigma is fixed, so its RMS displacement is about the same
  number of pixels at every size (severity 2: 4.5 px at 224 and at 28 px, 2% of the one and 17%
  of the other). Kept as ImageNet-C's formula; severity 2 is the hardest at 28 px.

At 224 px each equals corrupt-tta's output bit for bit (``tests/test_scaled_corruptions.py``):
the same arithmetic, and the same draws from NumPy's global RNG in the same order. Like
corrupt-tta these functions draw from that global RNG: ``shift._corrupt_array`` seeds it per job
and restores it, the only caller.

Left to corrupt-tta: ``zoom_blur`` (zoom factors, relative), ``pixelate`` (a fraction of the
size), ``fog`` (a plasma fractal drawn at the image's own size, next power of two), ``contrast``,
``brightness``, ``saturate`` and the four noises (no length; the noises are per pixel). Still
size-dependent there: ``jpeg_compression`` (JPEG's 8x8-pixel blocks are a fixed length: a 28-px
image is 3.5 blocks across), ``frost`` (a crop of fixed-resolution textures: a 28-px crop is a
speck of one), ``snow`` (a motion blur of radius 10-12 px on its flakes) and ``spatter``
(corrupt-tta's own droplets, blurred by 1-2.2 px), whose textures are made in pixels.

Written by hand rather than parametrised: corrupt-tta hardcodes each table inside its function,
and ``imagecorruptions`` (which has the same tables) fails on NumPy 2 and refuses images under
32 px. The helpers that take their parameters as arguments (``disk``) are corrupt-tta's.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import cv2
import numpy as np
from corrupt_tta.corruptions import disk
from scipy.ndimage import map_coordinates
from skimage.filters import gaussian

REFERENCE_SIZE = 224
"""The image size ImageNet-C's pixel parameters are set for."""


def size_scale(x: np.ndarray) -> float:
    """``min(H, W) / 224`` of an (H, W, C) image: the factor its pixel lengths take."""
    return min(x.shape[:2]) / REFERENCE_SIZE


def gaussian_blur(x: np.ndarray, severity: int = 1) -> np.ndarray:
    c = [1, 2, 3, 4, 6][severity - 1] * size_scale(x)
    x = gaussian(np.array(x) / 255., sigma=c, channel_axis=-1)
    return np.clip(x, 0, 1) * 255


def glass_blur(x: np.ndarray, severity: int = 1) -> np.ndarray:
    sigma, delta, iterations = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2),
                                (1.5, 4, 2)][severity - 1]
    s = size_scale(x)
    sigma, delta = sigma * s, max(1, int(np.floor(delta * s + 0.5)))
    x = np.uint8(gaussian(np.array(x) / 255., sigma=sigma, channel_axis=-1) * 255)
    h, w, ch = x.shape
    # corrupt-tta swaps pixel by pixel in NumPy; the same swaps, in the same order, on a list of
    # pixel rows (a swap of references) are several times faster.
    pixels = list(x.reshape(h * w, ch))
    for _ in range(iterations):
        dxs = np.random.randint(-delta, delta, size=(h, w))
        dys = np.random.randint(-delta, delta, size=(h, w))
        for row in range(delta, h - delta):
            drow, dcol = dys[row].tolist(), dxs[row].tolist()
            for col in range(delta, w - delta):
                a, b = row * w + col, (row + drow[col]) * w + col + dcol[col]
                pixels[a], pixels[b] = pixels[b], pixels[a]
    x = np.stack(pixels).reshape(h, w, ch)
    return np.clip(gaussian(x / 255., sigma=sigma, channel_axis=-1), 0, 1) * 255


@lru_cache(maxsize=64)
def _disk(radius: float, alias_blur: float) -> np.ndarray:
    """corrupt-tta's ``disk`` kernel, made once per size and severity rather than per image."""
    kernel = disk(radius=radius, alias_blur=alias_blur)
    kernel.setflags(write=False)
    return kernel


def defocus_blur(x: np.ndarray, severity: int = 1) -> np.ndarray:
    radius, alias_blur = [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)][severity - 1]
    res = cv2.filter2D(np.array(x) / 255., -1, _disk(radius * size_scale(x), alias_blur))
    return np.clip(res, 0, 1) * 255


def motion_kernel(radius: float, angle: float) -> np.ndarray:
    """A line of length 2 ``radius`` + 1 pixels through the centre, at ``angle`` degrees, summing
    to 1: corrupt-tta's ``cv2_motion_blur`` kernel for a whole radius, centred for any radius."""
    half = int(np.ceil(radius))
    size = 2 * half + 1
    kernel = np.zeros((size, size))
    kernel[half, :] = 1.0
    kernel[half, [0, -1]] = radius - (half - 1)        # 1 for a whole radius
    rotation = cv2.getRotationMatrix2D((half, half), angle, 1)
    kernel = cv2.warpAffine(kernel, rotation, (size, size))
    kernel /= np.sum(kernel)
    return kernel


def motion_blur(x: np.ndarray, severity: int = 1) -> np.ndarray:
    # ImageNet-C's (radius, sigma); corrupt-tta's kernel does not use sigma (module docstring).
    radius, _sigma = [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)][severity - 1]
    x = np.array(x) / 255.
    angle = np.random.uniform(-45, 45)
    res = cv2.filter2D(x, -1, motion_kernel(radius * size_scale(x), angle))
    return np.clip(res, 0, 1) * 255


def elastic_transform(image: np.ndarray, severity: int = 1) -> np.ndarray:
    size = min(np.asarray(image).shape[:2])             # ImageNet-C's 224
    c = [(size * 2, size * 0.7, size * 0.1),
         (size * 2, size * 0.08, size * 0.2),
         (size * 0.05, size * 0.01, size * 0.02),
         (size * 0.07, size * 0.01, size * 0.02),
         (size * 0.12, size * 0.01, size * 0.02)][severity - 1]
    image = np.array(image, dtype=np.float32) / 255.
    h, w = image.shape[:2]

    # random affine
    center_square = np.float32((h, w)) // 2
    square_size = min((h, w)) // 3
    pts1 = np.float32([center_square + square_size,
                       [center_square[0] + square_size, center_square[1] - square_size],
                       center_square - square_size])
    pts2 = pts1 + np.random.uniform(-c[2], c[2], size=pts1.shape).astype(np.float32)
    affine = cv2.getAffineTransform(pts1, pts2)
    image = cv2.warpAffine(image, affine, (w, h), borderMode=cv2.BORDER_REFLECT_101)

    dx = (gaussian(np.random.uniform(-1, 1, size=(h, w)),
                   c[1], mode='reflect', truncate=3) * c[0]).astype(np.float32)
    dy = (gaussian(np.random.uniform(-1, 1, size=(h, w)),
                   c[1], mode='reflect', truncate=3) * c[0]).astype(np.float32)

    x, y = np.meshgrid(np.arange(w), np.arange(h))
    indices = np.reshape(y + dy, (-1, 1)), np.reshape(x + dx, (-1, 1))
    res = np.zeros_like(image)
    for i in range(image.shape[2]):
        res[..., i] = map_coordinates(image[..., i], indices, order=1,
                                      mode='reflect').reshape((h, w))
    return np.clip(res, 0, 1) * 255


SCALED: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    f.__name__: f
    for f in (gaussian_blur, glass_blur, defocus_blur, motion_blur, elastic_transform)}
"""corrupt-tta's name -> the version here, with corrupt-tta's signature ``(x, severity)``: an
(H, W, 3) image in [0, 255] -> a float array in [0, 255]."""
