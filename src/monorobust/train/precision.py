"""Which floating-point precision pretraining runs in: ``auto`` resolved for the device at hand.

``pretrain.precision: auto`` (the quick preset) means bf16 autocast (Fabric's ``bf16-mixed``)
where the hardware multiplies bf16 natively, and fp32 (``32-true``) elsewhere:

- CPU: the AVX512-BF16 or AMX-BF16 instructions (Intel Cooper Lake / Sapphire Rapids and
  later, AMD Zen 4 and later), read from ``/proc/cpuinfo``. Without them bf16 matrix products
  are emulated and slower than fp32, so ``auto`` stays in fp32.
- CUDA: ``torch.cuda.is_bf16_supported()`` (Ampere and later).
- anything else (MPS, other accelerators): fp32.

The config keeps ``auto`` (so a rerun compares equal to the folder's config.yaml); run.json
records what it resolved to and why. The loss is computed in fp32 under either precision
(``train.pretrain.contrastive_loss``).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch

PRECISIONS = ("auto", "32-true", "32", "bf16-mixed", "16-mixed", "bf16-true")
"""Accepted values of ``pretrain.precision``: ``auto`` or a Lightning Fabric precision."""

# /proc/cpuinfo flags of the x86 instructions that multiply bf16 natively.
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


class Resolved(NamedTuple):
    precision: str
    """A Lightning Fabric precision (never ``auto``)."""
    reason: str
    """One line saying why, for run.json."""


def cpu_bf16_flags(cpuinfo: str | None = None) -> list[str]:
    """The native-bf16 flags this CPU reports (empty where none, or where there is no
    ``/proc/cpuinfo``, e.g. macOS or Windows: those fall back to fp32)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return []
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return [f for f in CPU_BF16_FLAGS if f in flags]


def accelerator_type(device: str) -> str:
    """The device type Fabric will use for ``--device`` (``auto`` and ``gpu`` resolved)."""
    if device in ("auto", "gpu"):
        if torch.cuda.is_available():
            return "cuda"
        return "cpu" if device == "auto" else device
    return device


def resolve_precision(precision: str, device: str, cpuinfo: str | None = None) -> Resolved:
    """``precision`` as Fabric takes it on ``device`` (cpu, cuda, gpu, mps, auto).

    Anything but ``auto`` is returned as it is. ``cpuinfo`` replaces ``/proc/cpuinfo`` (tests).
    """
    if precision != "auto":
        return Resolved(precision, "set in the config")
    kind = accelerator_type(device)
    if kind == "cpu":
        flags = cpu_bf16_flags(cpuinfo)
        if flags:
            return Resolved("bf16-mixed", f"auto: the CPU has native bf16 ({', '.join(flags)})")
        return Resolved("32-true", "auto: fp32, the CPU has no native bf16 (no avx512_bf16 "
                                   "or amx_bf16 flag)")
    if kind == "cuda":
        if _cuda_bf16():
            return Resolved("bf16-mixed", "auto: the GPU supports bf16")
        return Resolved("32-true", "auto: fp32, the GPU has no bf16 support")
    return Resolved("32-true", f"auto: fp32 on {kind}")


def _cuda_bf16() -> bool:
    """Native bf16 on the current GPU (emulated bf16 on older GPUs does not count)."""
    if not torch.cuda.is_available():
        return False
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:                      # older torch: no emulation argument
        return torch.cuda.is_bf16_supported()
