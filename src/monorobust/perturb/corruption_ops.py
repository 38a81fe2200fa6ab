"""The image corruptions of ImageNet-C / CIFAR-10-C, each taking its parameters as arguments
(the noises, blurs and digital ones; fog, frost, snow and spatter: ``corruption_weather``).

Hendrycks & Dietterich (2019) define one set of corruption functions and two calibrations of
them: ImageNet-C's tables for 224-px images and CIFAR-10-C's (``make_cifar_c.py`` in
hendrycks/robustness) for 32-px ones. Written here by hand, with the table's values passed in
(``perturb.calibration`` holds CIFAR-10-C's and scales its pixel lengths to the image), because
no package takes them as arguments: ``corrupt-tta`` hardcodes ImageNet-C's tables inside each
function, ``imagecorruptions`` (the same tables) fails on NumPy 2 and refuses images under
32 px, and ``make_cifar_c.py`` is a script, not a package, that needs ImageMagick's Wand.

Each function takes an (H, W, 3) image in [0, 255] and returns a float array in [0, 255], and
draws from NumPy's global RNG, as corrupt-tta's do (``shift._corrupt_array`` seeds it per job
and restores it, the only caller). Given ImageNet-C's 224-px parameters each equals
corrupt-tta's output bit for bit at 224 px, the same arithmetic and the same draws in the same
order (``tests/test_corruption_ops.py``; ``motion_blur`` with corrupt-tta's uniform
``motion_kernel``), except ``impulse_noise``, seeded here (corrupt-tta's is not).

``wand_motion_blur`` is ImageMagick's ``MotionBlurImage``, which CIFAR-10-C calls through Wand
(corrupt-tta replaced it by a uniform line that ignores sigma): a one-sided line of
``2 ceil(radius) + 1`` taps from each pixel along the angle, tap i weighted
``exp(-i^2 / (2 sigma^2))``, its offsets rounded as ImageMagick rounds them, edge pixels
repeated past the border (ImageMagick's default virtual pixels).
"""

from __future__ import annotations

from functools import lru_cache
from io import BytesIO

import cv2
import numpy as np
from corrupt_tta.corruptions import clipped_zoom, disk
from PIL import Image as PILImage
from scipy.ndimage import map_coordinates
from skimage.filters import gaussian
from skimage.util import random_noise


def gaussian_noise(x: np.ndarray, std: float) -> np.ndarray:
    x = np.array(x) / 255.
    return np.clip(x + np.random.normal(size=x.shape, scale=std), 0, 1) * 255


def shot_noise(x: np.ndarray, photons: float) -> np.ndarray:
    x = np.array(x) / 255.
    return np.clip(np.random.poisson(x * photons) / float(photons), 0, 1) * 255


def impulse_noise(x: np.ndarray, amount: float) -> np.ndarray:
    # skimage draws from a Generator of its own, unseeded unless given one (corrupt-tta's
    # impulse_noise is therefore not reproducible); seeded here from the global RNG.
    x = random_noise(np.array(x) / 255., mode='s&p', amount=amount,
                     rng=int(np.random.randint(2**31)))
    return np.clip(x, 0, 1) * 255


def speckle_noise(x: np.ndarray, std: float) -> np.ndarray:
    x = np.array(x) / 255.
    return np.clip(x + x * np.random.normal(size=x.shape, scale=std), 0, 1) * 255


def gaussian_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    x = gaussian(np.array(x) / 255., sigma=sigma, channel_axis=-1)
    return np.clip(x, 0, 1) * 255


def glass_blur(x: np.ndarray, sigma: float, delta: int, iterations: int) -> np.ndarray:
    """Blur, swap each pixel with one up to ``delta`` px away (``iterations`` passes), blur."""
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


def defocus_blur(x: np.ndarray, radius: float, alias_blur: float) -> np.ndarray:
    res = cv2.filter2D(np.array(x) / 255., -1, _disk(radius, alias_blur))
    return np.clip(res, 0, 1) * 255


def motion_kernel(radius: float, angle: float) -> np.ndarray:
    """A line of length 2 ``radius`` + 1 pixels through the centre, at ``angle`` degrees, summing
    to 1: corrupt-tta's ``cv2_motion_blur`` kernel for a whole radius, centred for any radius
    (its two end pixels weighted by the fraction of a pixel the radius reaches into them)."""
    half = int(np.ceil(radius))
    size = 2 * half + 1
    kernel = np.zeros((size, size))
    kernel[half, :] = 1.0
    kernel[half, [0, -1]] = radius - (half - 1)        # 1 for a whole radius
    rotation = cv2.getRotationMatrix2D((half, half), angle, 1)
    kernel = cv2.warpAffine(kernel, rotation, (size, size))
    kernel /= np.sum(kernel)
    return kernel


def motion_blur(x: np.ndarray, radius: float) -> np.ndarray:
    """corrupt-tta's motion blur (a uniform line, ``motion_kernel``), angle in [-45, 45)."""
    x = np.array(x) / 255.
    angle = np.random.uniform(-45, 45)
    return np.clip(cv2.filter2D(x, -1, motion_kernel(radius, angle)), 0, 1) * 255


def wand_motion_kernel(radius: float, sigma: float, angle: float) -> np.ndarray:
    """ImageMagick's motion-blur kernel (module docstring) as a centred 2-D correlation kernel."""
    taps = 2 * int(np.ceil(radius)) + 1
    i = np.arange(taps)
    weights = np.exp(-(i * i) / (2.0 * sigma * sigma))
    theta = np.deg2rad(angle)
    dx = np.ceil(i * np.cos(theta) - 0.5).astype(int)
    dy = np.ceil(i * np.sin(theta) - 0.5).astype(int)
    half = taps - 1                                     # the farthest tap's offset
    kernel = np.zeros((2 * half + 1, 2 * half + 1))
    np.add.at(kernel, (half + dy, half + dx), weights)
    return kernel / weights.sum()


def wand_motion_blur(x: np.ndarray, radius: float, sigma: float) -> np.ndarray:
    """CIFAR-10-C's motion blur (``wand_motion_kernel``), angle in [-45, 45)."""
    x = np.array(x) / 255.
    angle = np.random.uniform(-45, 45)
    res = cv2.filter2D(x, -1, wand_motion_kernel(radius, sigma, angle),
                       borderType=cv2.BORDER_REPLICATE)
    return np.clip(res, 0, 1) * 255


def zoom_blur(x: np.ndarray, zooms: np.ndarray) -> np.ndarray:
    x = (np.array(x) / 255.).astype(np.float32)
    # Channels are zoomed one by one; a grey image's three equal ones, once (the same values).
    grey = x.shape[2] > 1 and (x == x[..., :1]).all()
    one = x[..., :1] if grey else x
    out = np.zeros_like(one)
    for zoom in zooms:
        out += clipped_zoom(one, zoom)
    res = np.clip((one + out) / (len(zooms) + 1), 0, 1) * 255
    return np.repeat(res, x.shape[2], axis=2) if grey else res


def contrast(x: np.ndarray, factor: float) -> np.ndarray:
    x = np.array(x) / 255.
    means = np.mean(x, axis=(0, 1), keepdims=True)
    return np.clip((x - means) * factor + means, 0, 1) * 255


# HSV through OpenCV in float32, as corrupt-tta: make_cifar_c.py's skimage (float64) gives the
# same S and V definitions, equal to float32 rounding, and is seven times slower at 28 px.
def brightness(x: np.ndarray, shift: float) -> np.ndarray:
    x = cv2.cvtColor(np.array(x, dtype=np.float32) / 255., cv2.COLOR_RGB2HSV)
    x[..., 2] = np.clip(x[..., 2] + shift, 0, 1)
    return np.clip(cv2.cvtColor(x, cv2.COLOR_HSV2RGB), 0, 1) * 255


def saturate(x: np.ndarray, factor: float, shift: float) -> np.ndarray:
    x = cv2.cvtColor(np.array(x, dtype=np.float32) / 255., cv2.COLOR_RGB2HSV)
    x[..., 1] = np.clip(x[..., 1] * factor + shift, 0, 1)
    return np.clip(cv2.cvtColor(x, cv2.COLOR_HSV2RGB), 0, 1) * 255


def jpeg_compression(x: np.ndarray, quality: int) -> np.ndarray:
    out = BytesIO()
    PILImage.fromarray(np.uint8(x)).save(out, 'JPEG', quality=quality)
    return np.array(PILImage.open(out))


def pixelate(x: np.ndarray, factor: float) -> np.ndarray:
    h, w = np.asarray(x).shape[:2]
    img = PILImage.fromarray(np.uint8(x))
    img = img.resize((max(1, int(w * factor)), max(1, int(h * factor))), PILImage.BOX)
    return np.array(img.resize((w, h), PILImage.BOX))


def elastic_transform(image: np.ndarray, alpha: float, sigma: float,
                      jitter: float) -> np.ndarray:
    """A random affine (its three points moved up to ``jitter`` px), then a displacement field of
    per-pixel noise smoothed over ``sigma`` px and multiplied by ``alpha``."""
    image = np.array(image, dtype=np.float32) / 255.
    h, w = image.shape[:2]

    center_square = np.float32((h, w)) // 2
    square_size = min((h, w)) // 3
    pts1 = np.float32([center_square + square_size,
                       [center_square[0] + square_size, center_square[1] - square_size],
                       center_square - square_size])
    pts2 = pts1 + np.random.uniform(-jitter, jitter, size=pts1.shape).astype(np.float32)
    affine = cv2.getAffineTransform(pts1, pts2)
    image = cv2.warpAffine(image, affine, (w, h), borderMode=cv2.BORDER_REFLECT_101)

    dx = (gaussian(np.random.uniform(-1, 1, size=(h, w)),
                   sigma, mode='reflect', truncate=3) * alpha).astype(np.float32)
    dy = (gaussian(np.random.uniform(-1, 1, size=(h, w)),
                   sigma, mode='reflect', truncate=3) * alpha).astype(np.float32)

    x, y = np.meshgrid(np.arange(w), np.arange(h))
    indices = np.reshape(y + dy, (-1, 1)), np.reshape(x + dx, (-1, 1))
    res = np.zeros_like(image)
    for i in range(image.shape[2]):
        res[..., i] = map_coordinates(image[..., i], indices, order=1,
                                      mode='reflect').reshape((h, w))
    return np.clip(res, 0, 1) * 255
