"""Which table of corruption parameters the ``corrupt`` scenario uses: ImageNet-C's or CIFAR-10-C's.

ImageNet-C (Hendrycks & Dietterich 2019) chose its parameters for 224-px images, several of them
lengths in pixels; applied unchanged to 28-px Fashion-MNIST they are far too strong and not
monotone in severity (docs/corruptions.md). For small images the same authors re-chose every
table by hand: CIFAR-10-C (CIFAR-100-C uses the same), ``ImageNet-C/create_c/make_cifar_c.py``
in hendrycks/robustness. The calibrations:

- ``imagenet-c``: corrupt-tta unchanged (ImageNet-C's 224-px tables at any size).
- ``cifar-10-c``: CIFAR-10-C's tables (``CIFAR_10_C``, copied from make_cifar_c.py), applied by
  ``corruption_ops`` and ``corruption_weather``; their lengths in pixels (blur sigmas and radii,
  glass_blur's swap distance, motion_blur's and snow's radius and sigma, spatter's droplet
  blur, elastic_transform's IMSIZE-based lengths) scaled by ``min(H, W) / 32``: at 32 px
  exactly CIFAR-10-C's, at 28 px x 0.875; frost's textures are shrunk by 0.2 x that. All 19 of
  corrupt-tta's names have a table; a name without one (one corrupt-tta adds later) is refused
  before any work.
- ``auto``: ``cifar-10-c`` when the images' shorter side is at most 64 px, else ``imagenet-c``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache

import numpy as np

from monorobust.errors import ConfigError

CALIBRATIONS = ("auto", "cifar-10-c", "imagenet-c")
"""The values of ``grid.corruption_calibration``."""
AUTO_SMALL_SIDE = 64
"""``auto`` picks ``cifar-10-c`` for images whose shorter side is at most this many pixels."""
CIFAR_SIZE = 32
"""The image size CIFAR-10-C's pixel lengths are chosen for."""

CIFAR_10_C: dict[str, tuple] = {
    # make_cifar_c.py's tables, severity 1-5, in its units (32-px images).
    "gaussian_noise": (0.04, 0.06, .08, .09, .10),                      # std
    "shot_noise": (500, 250, 100, 75, 50),                              # photons
    "impulse_noise": (.01, .02, .03, .05, .07),                         # share of pixels
    "speckle_noise": (.06, .1, .12, .16, .2),                           # std
    "gaussian_blur": (.4, .6, 0.7, .8, 1),                              # sigma, px
    "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2),
                   (0.4, 1, 2)),                                        # sigma, swap px, passes
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),  # radius, alias
    "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),        # radius, sigma, px
    "zoom_blur": (1.06, 1.11, 1.16, 1.21, 1.26),                        # np.arange(1, c, .01)
    "fog": ((.2, 3), (.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),        # strength, wibbledecay
    "brightness": (.05, .1, .15, .2, .3),                               # + HSV value
    "contrast": (.75, .5, .4, .3, 0.15),                                # x (pixel - mean)
    # alpha, sigma, affine jitter, each x IMSIZE
    "elastic_transform": ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06),
                          (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)),
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),                          # resize factor
    "jpeg_compression": (80, 65, 58, 50, 40),                           # quality
    "saturate": ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),   # HSV saturation x, +
    "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),  # image x, frost x
    # loc, scale, zoom, threshold, motion radius and sigma (px), blend
    "snow": ((0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
             (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9), (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
             (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)),
    "spatter": ((0.62, 0.1, 0.7, 0.7, 0.5, 0), (0.65, 0.1, 0.8, 0.7, 0.5, 0),
                (0.65, 0.3, 1, 0.69, 0.5, 0), (0.65, 0.1, 0.7, 0.69, 0.6, 1),
                (0.65, 0.1, 0.5, 0.68, 0.6, 1)),        # loc, scale, sigma, threshold, amount, mud
}
"""CIFAR-10-C's parameters per corrupt-tta name, severities 1-5."""


@cache
def _apply() -> dict[str, Callable[[np.ndarray, object, float, int], np.ndarray]]:
    """name -> f(image, c, s, size): one severity's parameters ``c`` applied with lengths
    scaled by ``s = size / 32``, ``size`` the image's shorter side."""
    from monorobust.perturb import corruption_ops as ops       # need corrupt-tta: imported late
    from monorobust.perturb import corruption_weather as weather

    return {
        "gaussian_noise": lambda x, c, s, n: ops.gaussian_noise(x, c),
        "shot_noise": lambda x, c, s, n: ops.shot_noise(x, c),
        "impulse_noise": lambda x, c, s, n: ops.impulse_noise(x, c),
        "speckle_noise": lambda x, c, s, n: ops.speckle_noise(x, c),
        "gaussian_blur": lambda x, c, s, n: ops.gaussian_blur(x, c * s),
        # a swap is between whole pixels, at least one apart (CIFAR-10-C's is 1 throughout)
        "glass_blur": lambda x, c, s, n: ops.glass_blur(x, c[0] * s,
                                                        max(1, int(np.floor(c[1] * s + 0.5))),
                                                        c[2]),
        # alias_blur smooths the disk's staircase on the pixel grid: about the grid, kept
        "defocus_blur": lambda x, c, s, n: ops.defocus_blur(x, c[0] * s, c[1]),
        "motion_blur": lambda x, c, s, n: ops.wand_motion_blur(x, c[0] * s, c[1] * s),
        "zoom_blur": lambda x, c, s, n: ops.zoom_blur(x, np.arange(1, c, 0.01)),
        "fog": lambda x, c, s, n: weather.fog(x, c[0], c[1]),
        "brightness": lambda x, c, s, n: ops.brightness(x, c),
        "contrast": lambda x, c, s, n: ops.contrast(x, c),
        "elastic_transform": lambda x, c, s, n: ops.elastic_transform(x, c[0] * n, c[1] * n,
                                                                      c[2] * n),
        "pixelate": lambda x, c, s, n: ops.pixelate(x, c),
        "jpeg_compression": lambda x, c, s, n: ops.jpeg_compression(x, c),
        "saturate": lambda x, c, s, n: ops.saturate(x, c[0], c[1]),
        # make_cifar_c.py shrinks the textures to 0.2 and draws from frost1-5 (randint(5))
        "frost": lambda x, c, s, n: weather.frost(x, c[0], c[1], 0.2 * s, 5),
        "snow": lambda x, c, s, n: weather.snow(x, *c[:4], c[4] * s, c[5] * s, c[6]),
        # mud's amount is the blots' blur sigma, a length; water's a strength
        "spatter": lambda x, c, s, n: weather.spatter(x, c[0], c[1], c[2] * s, c[3],
                                                      c[4] * s if c[5] else c[4], bool(c[5])),
    }


def resolve(calibration: str, height: int, width: int) -> str:
    """``auto`` -> ``cifar-10-c`` or ``imagenet-c`` by the images' shorter side; others as given."""
    if calibration not in CALIBRATIONS:
        raise ConfigError(f"grid.corruption_calibration must be one of {', '.join(CALIBRATIONS)}, "
                          f"got {calibration!r}")
    if calibration != "auto":
        return calibration
    return "cifar-10-c" if min(height, width) <= AUTO_SMALL_SIDE else "imagenet-c"


def resolve_supported(names: Iterable[str], calibration: str, height: int, width: int) -> str:
    """``resolve`` for ``height`` x ``width`` images, then ``check_supported`` for ``names``,
    saying so where "auto" made the choice; the resolved calibration."""
    resolved = resolve(calibration, height, width)
    check_supported(names, resolved, f"auto picks {resolved} for {height}x{width} images"
                    if calibration == "auto" else "")
    return resolved


def check_supported(names: Iterable[str], calibration: str, why: str = "") -> None:
    """Refuse, before any work, a corruption without a table under a resolved ``calibration``;
    ``why`` (e.g. "auto chose it for 28x28 images") is added to the message."""
    if calibration != "cifar-10-c":
        return
    for name in names:
        if name not in CIFAR_10_C:
            raise ConfigError(f"grid.corruptions: {name} has no cifar-10-c table here"
                              f"{f' ({why})' if why else ''}; use "
                              "grid.corruption_calibration=imagenet-c or drop it")


def cifar_10_c(x: np.ndarray, name: str, severity: int) -> np.ndarray:
    """CIFAR-10-C's ``name`` at ``severity`` on one (H, W, 3) image in [0, 255], its pixel
    lengths scaled by min(H, W) / 32; a float array in [0, 255]."""
    size = min(np.asarray(x).shape[:2])
    return _apply()[name](x, CIFAR_10_C[name][severity - 1], size / CIFAR_SIZE, size)
