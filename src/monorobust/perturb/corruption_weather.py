"""ImageNet-C's weather corruptions (fog, frost, snow) and spatter, their parameters as arguments.

The same conventions as ``corruption_ops`` (whose docstring says why these are written by hand):
an (H, W, 3) image in [0, 255] in, a float array in [0, 255] out, NumPy's global RNG drawn in
make_cifar_c.py's order. They follow make_cifar_c.py, with three differences: snow's motion blur
is ``corruption_ops.wand_motion_kernel`` (ImageMagick's, in NumPy) with an 8-bit round trip
around it, as Wand's PNG one; frost reads corrupt-tta's copies of the textures; spatter without
a droplet adds nothing (make_cifar_c.py divides by zero there). ``fog`` given ImageNet-C's
parameters equals corrupt-tta's bit for bit; the other three have no such check, since
corrupt-tta's differ (its snow blurs with a uniform line, its frost crops the texture unshrunk,
its spatter is a mask of its own).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from corrupt_tta.corruptions import clipped_zoom, plasma_fractal
from skimage.filters import gaussian

from monorobust.perturb.corruption_ops import wand_motion_kernel


def fog(x: np.ndarray, strength: float, wibbledecay: float) -> np.ndarray:
    """A plasma fractal (roughness ``wibbledecay``; corrupt-tta's fog fixes it at 3) of the next
    power of two at or above the image's size, cropped to it, added and renormalised."""
    x = np.array(x) / 255.
    h, w = x.shape[:2]
    mapsize = 1 << max(1, int(np.ceil(np.log2(max(h, w)))))
    peak = x.max()
    x += strength * plasma_fractal(mapsize=mapsize, wibbledecay=wibbledecay)[:h, :w][..., None]
    return np.clip(x * peak / (peak + strength), 0, 1) * 255


@lru_cache(maxsize=None)
def _frost_texture(index: int) -> np.ndarray:
    """corrupt-tta's frost texture ``index`` (1-6), RGB uint8, read once."""
    from importlib import resources

    name = f"frost{index}.{'png' if index <= 3 else 'jpg'}"
    with resources.as_file(resources.files("corrupt_tta.assets.frost") / name) as path:
        texture = cv2.imread(str(path))
    if texture is None:
        raise FileNotFoundError(f"corrupt-tta's frost texture {name} is missing")
    texture = np.ascontiguousarray(texture[..., ::-1])
    texture.setflags(write=False)
    return texture


def frost(x: np.ndarray, image_weight: float, frost_weight: float, texture_scale: float,
          textures: int) -> np.ndarray:
    """``image_weight`` x image + ``frost_weight`` x a random crop of one of the first
    ``textures`` frost textures, resized by ``texture_scale``."""
    x = np.array(x)
    h, w = x.shape[:2]
    texture = _frost_texture(np.random.randint(textures) + 1)
    th, tw = texture.shape[:2]
    scale = max(texture_scale, h / th, w / tw)          # the crop fits in the texture
    texture = cv2.resize(texture, (max(w, int(round(tw * scale))), max(h, int(round(th * scale)))),
                         interpolation=cv2.INTER_LINEAR)
    top = np.random.randint(0, texture.shape[0] - h + 1)
    left = np.random.randint(0, texture.shape[1] - w + 1)
    crop = texture[top:top + h, left:left + w]
    return np.clip(image_weight * x + frost_weight * crop, 0, 255)


def snow(x: np.ndarray, loc: float, scale: float, zoom: float, threshold: float, radius: float,
         sigma: float, blend: float) -> np.ndarray:
    """Flakes: Gaussian noise (``loc``, ``scale``) zoomed by ``zoom``, kept above ``threshold``,
    motion-blurred as ImageMagick does (``radius``, ``sigma``, angle in [-135, -45)) and added
    twice (the second rotated 180 degrees) to the image greyed towards white by ``1 - blend``.
    The layer goes to 8 bits and back around the blur, as CIFAR-10-C's PNG round trip does."""
    x = np.array(x, dtype=np.float32) / 255.
    h, w = x.shape[:2]
    layer = np.random.normal(size=(h, w), loc=loc, scale=scale)
    layer = clipped_zoom(layer[..., None], zoom)[..., 0]
    layer[layer < threshold] = 0
    layer = np.uint8(np.clip(layer, 0, 1) * 255) / 255.
    angle = np.random.uniform(-135, -45)
    layer = cv2.filter2D(layer, -1, wand_motion_kernel(radius, sigma, angle),
                         borderType=cv2.BORDER_REPLICATE)
    layer = (np.rint(np.clip(layer, 0, 1) * 255) / 255.)[..., None]
    grey = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., None]
    x = blend * x + (1 - blend) * np.maximum(x, grey * 1.5 + 0.5)
    return np.clip(x + layer + np.rot90(layer, k=2), 0, 1) * 255


def spatter(x: np.ndarray, loc: float, scale: float, sigma: float, threshold: float,
            amount: float, mud: bool) -> np.ndarray:
    """Droplets: Gaussian noise (``loc``, ``scale``) smoothed over ``sigma`` px, kept above
    ``threshold``; water (pale turquoise, shaded by the droplets' edges, ``amount`` its
    strength) or, with ``mud``, brown blots whose mask is smoothed over ``amount`` px."""
    x = np.array(x, dtype=np.float32) / 255.
    liquid = gaussian(np.random.normal(size=x.shape[:2], loc=loc, scale=scale), sigma=sigma)
    liquid[liquid < threshold] = 0
    if not mud:
        liquid = (liquid * 255).astype(np.uint8)
        dist = cv2.distanceTransform(255 - cv2.Canny(liquid, 50, 150), cv2.DIST_L2, 5)
        _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
        dist = cv2.equalizeHist(cv2.blur(dist, (3, 3)).astype(np.uint8))
        emboss = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
        dist = cv2.blur(cv2.filter2D(dist, cv2.CV_8U, emboss), (3, 3)).astype(np.float32)
        m = liquid * dist
        peak = m.max()                                  # no droplet: CIFAR-10-C divides by 0
        m = (m / peak if peak > 0 else m)[..., None] * amount
        water = np.array([175, 238, 238], dtype=np.float32) / 255.
        return np.clip(x + m * water, 0, 1) * 255
    m = gaussian((liquid > threshold).astype(np.float32), sigma=amount)
    m[m < 0.8] = 0
    brown = np.array([63, 42, 20], dtype=np.float32) / 255.
    return np.clip(x * (1 - m[..., None]) + brown * m[..., None], 0, 1) * 255
