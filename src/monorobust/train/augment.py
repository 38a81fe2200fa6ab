"""SimCLR augmentations on whole batches of tensors, on the model's device.

Per-image PIL transforms (torchvision's usual pipeline) keep a CPU busy per image; here every
operation is one batched tensor op with per-sample random parameters drawn from an explicit
generator, so a batch of 512 28x28 images takes milliseconds and the GPU never waits for it.

Operations, in this fixed order (torchvision applies the four jitters in random order):
random resized crop (area ``crop_scale``, aspect 3/4-4/3, via ``affine_grid``/``grid_sample``),
horizontal flip, colour jitter (brightness, contrast, saturation, hue; hue as a rotation in YIQ
space), random grayscale, Gaussian blur (sigma 0.1-2, kernel ~10% of the image side).

A view's random parameters are drawn first, in that order (``_draw_view``), then applied
(``_apply_view``), so that ``simclr_views`` can compute several views in one pass with the
values of one call per view.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Annotated, Callable, ClassVar, NamedTuple

import torch
import torch.nn.functional as F

from monorobust.fields import NON_NEGATIVE, PROBABILITY, check_fields

_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class AugmentConfig:
    SECTION: ClassVar[str] = "pretrain.augment"
    """Where this config sits in the run config: errors name keys as SECTION.field."""

    crop_scale: tuple[float, float] = (0.08, 1.0)
    """Range of the crop's area as a share of the image (SimCLR: 0.08-1)."""
    flip_p: Annotated[float, PROBABILITY] = 0.5
    """Probability of a horizontal flip."""
    jitter: Annotated[tuple[float, float, float, float], NON_NEGATIVE] = (0.8, 0.8, 0.8, 0.2)
    """Colour-jitter strengths: brightness, contrast, saturation, hue (SimCLR: 0.8/0.8/0.8/0.2)."""
    jitter_p: Annotated[float, PROBABILITY] = 0.8
    """Probability of applying colour jitter to an image."""
    grayscale_p: Annotated[float, PROBABILITY] = 0.2
    """Probability of converting an image to grayscale (no effect on 1-channel images)."""
    blur_p: Annotated[float, PROBABILITY] = 0.5
    """Probability of a Gaussian blur."""
    blur_sigma: Annotated[tuple[float, float], NON_NEGATIVE] = (0.1, 2.0)
    """Range of the blur's standard deviation in pixels (SimCLR: 0.1-2 at 224 px)."""

    def __post_init__(self) -> None:
        from monorobust.errors import ConfigError

        check_fields(self)
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise ConfigError(f"augment.crop_scale {self.crop_scale} must satisfy 0 < lo <= hi <= 1")
        if self.blur_sigma[0] > self.blur_sigma[1]:
            raise ConfigError(f"augment.blur_sigma {self.blur_sigma} must satisfy lo <= hi")


def _uniform(n: int, lo: float, hi: float, gen: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, generator=gen, device=device) * (hi - lo) + lo


def _coin(n: int, p: float, gen: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, generator=gen, device=device) < p


def random_resized_crop(x: torch.Tensor, scale: tuple[float, float], flip_p: float,
                        gen: torch.Generator) -> torch.Tensor:
    """(N, C, H, W) -> same shape: crop of area ``scale`` and aspect 3/4-4/3, resized back."""
    return _apply_crop(x, _draw_crop(x.shape[0], scale, flip_p, gen, x.device))


def _draw_crop(n: int, scale: tuple[float, float], flip_p: float, gen: torch.Generator,
               dev) -> tuple[torch.Tensor, ...]:
    """Per image: horizontal scale (negative: flipped), centre x, vertical scale, centre y."""
    area = _uniform(n, *scale, gen, dev)
    log_r = _uniform(n, math.log(3 / 4), math.log(4 / 3), gen, dev)
    ratio = log_r.exp()
    w = (area * ratio).sqrt().clamp(max=1.0)          # crop size as a share of the side
    h = (area / ratio).sqrt().clamp(max=1.0)
    cx = (torch.rand(n, generator=gen, device=dev) * 2 - 1) * (1 - w)
    cy = (torch.rand(n, generator=gen, device=dev) * 2 - 1) * (1 - h)
    sign = torch.where(_coin(n, flip_p, gen, dev), -1.0, 1.0)
    return w * sign, cx, h, cy


def _apply_crop(x: torch.Tensor, crop: tuple[torch.Tensor, ...]) -> torch.Tensor:
    grid = _crop_grid(*crop, x.shape[2], x.shape[3], x.dtype)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _crop_grid(sx: torch.Tensor, cx: torch.Tensor, sy: torch.Tensor, cy: torch.Tensor,
               height: int, width: int, dtype: torch.dtype) -> torch.Tensor:
    """(N, H, W, 2) sampling grid of the axis-aligned affine maps x' = sx*x + cx, y' = sy*y + cy.

    ``F.affine_grid`` with theta ``[[sx, 0, cx], [0, sy, cy]]`` gives the same grid, but as one
    batched (H*W, 3) x (3, 2) product per image, which took 70% of the augmentation's time on a
    CPU (3.8 of 5.3 ms for 512 28x28 images); an axis-aligned crop needs only a scale and a
    shift per axis. Pixel centres as ``affine_grid(align_corners=False)`` places them.
    """
    def centres(size: int) -> torch.Tensor:
        return torch.linspace(-1, 1, size, device=sx.device, dtype=dtype) * ((size - 1) / size)

    gx = sx.view(-1, 1, 1) * centres(width).view(1, 1, -1) + cx.view(-1, 1, 1)    # (N, 1, W)
    gy = sy.view(-1, 1, 1) * centres(height).view(1, -1, 1) + cy.view(-1, 1, 1)   # (N, H, 1)
    n = sx.shape[0]
    return torch.stack([gx.expand(n, height, width), gy.expand(n, height, width)], dim=-1)


_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


# YIQ->RGB, inverted once in float64 on the CPU (``linalg.inv`` on a GPU checks its result
# there, a host wait).
_FROM_YIQ = tuple(map(tuple, torch.linalg.inv(torch.tensor(_TO_YIQ, dtype=torch.float64)).tolist()))


def _make_constants(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    """Luma weights, RGB->YIQ and its inverse, made on ``device`` (under torch.compile a graph
    with a CPU tensor in it would not be captured as a CUDA graph)."""
    return tuple(torch.tensor(t, dtype=dtype, device=device) for t in (_LUMA, _TO_YIQ, _FROM_YIQ))


_cached_constants = functools.cache(_make_constants)


def _constants(device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    """``_make_constants``, built once per device in eager mode so that no step copies from the
    host; under ``torch.compile`` they are traced in as the graph's constants."""
    if torch.compiler.is_compiling():
        return _make_constants(device, dtype)
    return _cached_constants(device, dtype)


def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    return (x * _constants(x.device, x.dtype)[0].view(1, 3, 1, 1)).sum(1, keepdim=True)


def _rotate_hue(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate the chroma of RGB images (N, 3, H, W) by ``angle`` radians in YIQ space."""
    _, to_yiq, from_yiq = _constants(x.device, x.dtype)
    yiq = torch.einsum("ij,njhw->nihw", to_yiq, x)
    c, s = angle.cos().view(-1, 1, 1), angle.sin().view(-1, 1, 1)
    i, q = yiq[:, 1], yiq[:, 2]
    yiq = torch.stack([yiq[:, 0], c * i - s * q, s * i + c * q], dim=1)
    return torch.einsum("ij,njhw->nihw", from_yiq, yiq)


def _draw_jitter(n: int, channels: int, strength: tuple[float, float, float, float], p: float,
                 gen: torch.Generator, dev) -> tuple[torch.Tensor | None, ...]:
    """Per image: applied?, brightness, contrast, saturation and hue (None for grey images)."""
    b, c, s, h = strength
    apply = _coin(n, p, gen, dev)
    bf = _uniform(n, max(0.0, 1 - b), 1 + b, gen, dev)
    cf = _uniform(n, max(0.0, 1 - c), 1 + c, gen, dev)
    sf = hf = None
    if channels == 3:
        sf = _uniform(n, max(0.0, 1 - s), 1 + s, gen, dev)
        hf = _uniform(n, -h, h, gen, dev)
    return apply, bf, cf, sf, hf


def _apply_jitter(x: torch.Tensor, jitter: tuple[torch.Tensor | None, ...]) -> torch.Tensor:
    apply, bf, cf, sf, hf = (t if t is None else t.view(-1, 1, 1, 1) for t in jitter)
    out = x * bf
    out = out.clamp(0, 1)
    mean = _gray(out).mean(dim=(1, 2, 3), keepdim=True)
    out = (cf * out + (1 - cf) * mean).clamp(0, 1)
    if sf is not None:
        out = (sf * out + (1 - sf) * _gray(out)).clamp(0, 1)
        out = _rotate_hue(out, hf.flatten() * 2 * math.pi).clamp(0, 1)
    return torch.where(apply, out, x)


def _draw_blur(n: int, p: float, sigma_range: tuple[float, float], gen: torch.Generator,
               dev) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: sigma and applied?"""
    sigma = _uniform(n, *sigma_range, gen, dev).clamp(min=1e-3)
    return sigma, _coin(n, p, gen, dev)


def _apply_blur(x: torch.Tensor, sigma_range: tuple[float, float],
                blur: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    n, ch, hgt, wid = x.shape
    dev = x.device
    sigma, apply = blur
    radius = max(1, min(math.ceil(2 * sigma_range[1]), min(hgt, wid) // 2 - 1))
    offsets = torch.arange(-radius, radius + 1, device=dev, dtype=x.dtype)
    kernel = torch.exp(-offsets.view(1, -1) ** 2 / (2 * sigma.view(-1, 1) ** 2))
    kernel = kernel / kernel.sum(1, keepdim=True)                  # (N, K)
    if dev.type == "cpu" and not torch.compiler.is_compiling():
        # On a CPU, blur only the chosen images (same draws, same values, ~half the work); on
        # a GPU the boolean indexing would cost a host sync, and under torch.compile a graph
        # break (a shape that depends on the data), so everything is blurred there.
        chosen = apply.nonzero().squeeze(1)
        out = x.clone()
        out[chosen] = _blur(x[chosen], kernel[chosen], radius)
        return out
    return torch.where(apply.view(-1, 1, 1, 1), _blur(x, kernel, radius), x)


def _blur(x: torch.Tensor, kernel: torch.Tensor, radius: int) -> torch.Tensor:
    """Separable blur of (N, C, H, W) with one 1-d kernel (N, K) per image."""
    n, ch, hgt, wid = x.shape
    if n == 0:
        return x
    k = kernel.repeat_interleave(ch, 0)                            # (N*C, K)
    flat = x.reshape(1, n * ch, hgt, wid)
    flat = F.pad(flat, (radius, radius, radius, radius), mode="reflect")
    flat = F.conv2d(flat, k.view(n * ch, 1, 1, -1), groups=n * ch)
    flat = F.conv2d(flat, k.view(n * ch, 1, -1, 1), groups=n * ch)
    return flat.view(n, ch, hgt, wid)


class ViewDraws(NamedTuple):
    """The random parameters of SimCLR views, one entry per image (``_draw_view``)."""

    crop: tuple[torch.Tensor, ...]
    jitter: tuple[torch.Tensor | None, ...] | None
    gray: torch.Tensor | None
    blur: tuple[torch.Tensor, torch.Tensor] | None


def _draw_view(n: int, channels: int, cfg: AugmentConfig, gen: torch.Generator,
               dev) -> ViewDraws:
    """A view's parameters for ``n`` images, drawn in the order the transforms apply."""
    crop = _draw_crop(n, cfg.crop_scale, cfg.flip_p, gen, dev)
    jitter = (_draw_jitter(n, channels, cfg.jitter, cfg.jitter_p, gen, dev)
              if cfg.jitter_p > 0 else None)
    gray = _coin(n, cfg.grayscale_p, gen, dev) if cfg.grayscale_p > 0 and channels == 3 else None
    blur = _draw_blur(n, cfg.blur_p, cfg.blur_sigma, gen, dev) if cfg.blur_p > 0 else None
    return ViewDraws(crop, jitter, gray, blur)


def _cat(draws: list):
    """Several views' parameters as one: tensors concatenated, the same structure kept."""
    first = draws[0]
    if first is None:
        return None
    if isinstance(first, torch.Tensor):
        return torch.cat(draws)
    parts = (_cat(list(same)) for same in zip(*draws))
    return ViewDraws(*parts) if isinstance(first, ViewDraws) else tuple(parts)


ApplyView = Callable[[torch.Tensor, AugmentConfig, ViewDraws], torch.Tensor]
"""What turns images and a view's draws into the view: ``_apply_view``, or
``compiled_apply_view``'s compiled one."""


def simclr_views(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator, views: int = 2,
                 one_pass: bool | None = None,
                 apply_view: ApplyView | None = None) -> tuple[torch.Tensor, ...]:
    """``views`` random SimCLR views of float images (N, C, H, W) in [0, 1], each (N, C, H, W).

    The same values as ``views`` calls of ``simclr_augment`` with the same generator (each
    view's parameters are drawn in that order; tested bit for bit). ``one_pass`` computes all
    views as one batch: 239 operators instead of 348 for the cifar100 preset's two, which
    on a GPU each cost the host a launch; on a CPU two passes of N images stay in cache and ran
    twice as fast as one of 2N (quick preset: 5.5 vs 10.5 ms). None: one pass except on a CPU.
    ``apply_view``: the transforms given the draws (default the eager ``_apply_view``;
    ``compiled_apply_view`` fuses them, the same values up to rounding).
    """
    n = x.shape[0]
    apply_view = apply_view or _apply_view
    draws = [_draw_view(n, x.shape[1], cfg, gen, x.device) for _ in range(views)]
    if one_pass is None:
        one_pass = x.device.type != "cpu"
    if not one_pass or views == 1:
        return tuple(apply_view(x, cfg, d) for d in draws)
    return apply_view(x.repeat(views, 1, 1, 1), cfg, _cat(draws)).chunk(views)


def _apply_view(x: torch.Tensor, cfg: AugmentConfig, draws: ViewDraws) -> torch.Tensor:
    x = _apply_crop(x, draws.crop)
    if draws.jitter is not None:
        x = _apply_jitter(x, draws.jitter)
    if draws.gray is not None:
        x = torch.where(draws.gray.view(-1, 1, 1, 1), _gray(x).expand_as(x), x)
    if draws.blur is not None:
        x = _apply_blur(x, cfg.blur_sigma, draws.blur)
    return x.clamp(0, 1)


@functools.cache
def compiled_apply_view(mode: str) -> ApplyView:
    """``_apply_view`` through ``torch.compile`` in ``mode``, as one graph (``fullgraph``: a
    break fails instead of splitting it) for fixed shapes: the crop, jitter, grayscale and
    blur of a batch in a few fused kernels instead of about 130 operators (each a launch on a
    GPU; under a CUDA-graph mode, one replay). The draws stay eager: a generator's calls do not
    compile. ``pretrain.compile_augment``."""
    return torch.compile(_apply_view, mode=mode, dynamic=False, fullgraph=True)


def simclr_augment(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """One random SimCLR view of float images (N, C, H, W) in [0, 1]; same shape and range."""
    return _apply_view(x, cfg, _draw_view(x.shape[0], x.shape[1], cfg, gen, x.device))
