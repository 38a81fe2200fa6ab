"""MonoLoRA: LoRA with a ReLU that makes the adapter non-negative and sparse, as a PEFT LoRA variant.

For a linear layer ``h = W0 x`` (PEFT's LoRA: ``h = W0 x + s * B A drop(x)``, ``s = alpha / r``, or
``alpha / sqrt(r)`` with rsLoRA), MonoLoRA is one of two placements of a ReLU::

    relu_position="code"    h = W0 x + s * B relu(A drop(x)) (+ b_B)      # sparse r-dim code (default)
    relu_position="output"  h = W0 x + s * relu(B A drop(x) + b_B)        # sparse, non-negative update

``A: (r, in)``, ``B: (out, r)``, ``b_B`` only with ``lora_bias=True``. The scaling ``s`` sits outside
the ReLU in both placements; since ``s > 0``, ``s * relu(z) == relu(s * z)``, so the choice of where
``s`` sits changes nothing numerically. Dropout acts on the input ``x`` exactly as in PEFT's LoRA.

The ReLU's derivative at 0 is taken as 1 (``clamp_min``): with PEFT's init ``B = 0`` the output
placement starts at ``B A x = 0`` for every input, and with the usual ``relu'(0) = 0`` no gradient
would ever reach ``A`` or ``B``. At initialisation both placements equal the base model.

A non-linear adapter has no weight ``Delta W`` with ``Delta W x == s B relu(A x)`` for all ``x``, so
``merge``/``merge_and_unload`` and everything built on ``get_delta_weight`` raise
``MonoLoraMergeError``.

This is not a fork of PEFT: it is a ``LoraVariant`` (PEFT's own extension point for DoRA and
friends), a ``lora.Linear`` subclass that declares it, and a ``LoraConfig`` subclass that maps
``nn.Linear`` (and transformers' ``Conv1D``) to that subclass through PEFT's custom-module hook.

Saved adapters say ``"peft_type": "MONOLORA"`` (see ``MonoLoraConfig.to_dict``); importing this module
(or ``monorobust.adapters``) registers that name with PEFT, so ``PeftModel.from_pretrained`` rebuilds
MonoLoRA, while PEFT without monorobust refuses the folder instead of loading a linear LoRA.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional

import torch
from peft import LoraConfig
from peft.tuners.lora.layer import Linear as LoraLinear
from peft.tuners.lora.layer import LoraVariant
from torch import nn

ReluPosition = Literal["code", "output"]
RELU_POSITIONS: tuple[str, ...] = ("code", "output")
MONOLORA_PEFT_TYPE = "MONOLORA"
"""``peft_type`` in a saved MonoLoRA ``adapter_config.json``; in memory the config is a LoRA (``LORA``)."""


class MonoLoraMergeError(RuntimeError):
    """Raised on any attempt to fold a MonoLoRA adapter into the base weights."""


def _merge_refused(name: str = "MonoLoRA") -> MonoLoraMergeError:
    return MonoLoraMergeError(
        f"{name} adapters cannot be merged into the base weights: the ReLU makes the adapter "
        "non-linear, so no weight matrix W0 + dW reproduces it. Keep the adapter unmerged (use the "
        "PeftModel as is, or save it with save_pretrained); use plain LoRA if you need merging.")


@dataclass
class MonoLoraConfig(LoraConfig):
    """``LoraConfig`` plus one option, ``relu_position``: the one-line switch from LoRA to MonoLoRA.

    ``MonoLoraConfig(r=8, target_modules=["q_proj", "v_proj"])`` is MonoLoRA with the ReLU on the code;
    ``relu_position=None`` gives plain LoRA through the same classes. Every LoRA option (``r``,
    ``lora_alpha``, ``lora_dropout``, ``use_rslora``, ``target_modules``, ``modules_to_save``, ...)
    keeps its meaning. DoRA and the other LoRA variants cannot be combined with it.
    """

    relu_position: Optional[str] = field(
        default="code",
        metadata={
            "is_lora_variant": True,
            "help": "Where MonoLoRA's ReLU sits: 'code' (W0 x + s B relu(A x)), 'output' "
                    "(W0 x + s relu(B A x)), or None for plain LoRA.",
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.relu_position is not None and self.relu_position not in RELU_POSITIONS:
            raise ValueError(f"relu_position={self.relu_position!r} must be one of {RELU_POSITIONS} or "
                             "None (plain LoRA)")
        if self.relu_position is not None and self.use_dora:
            raise ValueError("MonoLoRA cannot be combined with use_dora=True; drop one of them")
        self._register_custom_module(_layer_mapping())

    def to_dict(self) -> dict[str, Any]:
        # The saved form names peft_type "MONOLORA", not "LORA". PEFT picks the config class of a
        # folder by peft_type, and for "LORA" it drops keys LoraConfig does not know (relu_position)
        # with only a warning: a silent linear adapter. No PEFT knows "MONOLORA" by itself, so plain
        # PEFT (without monorobust imported, or an old version) stops with KeyError: 'MONOLORA';
        # register_with_peft maps the name to this class. In memory peft_type stays LORA (set by
        # LoraConfig.__post_init__), so PEFT's LoraModel, "lora_" prefix and state-dict code run as for
        # LoRA. relu_position=None is plain LoRA and is saved as such.
        d = super().to_dict()
        if self.relu_position is not None:
            d["peft_type"] = MONOLORA_PEFT_TYPE
        return d

    @classmethod
    def from_peft_type(cls, **kwargs: Any) -> "MonoLoraConfig":
        # PeftConfig.from_peft_type dispatches on peft_type and, for a folder saved as "LORA" (before
        # MonoLoRA had its own peft_type), would build a LoraConfig that drops relu_position.
        kwargs.pop("peft_type", None)
        return cls(**kwargs)


def register_with_peft() -> None:
    """Let PEFT's loaders read ``peft_type: "MONOLORA"`` as ``MonoLoraConfig`` (idempotent).

    ``PeftModel.from_pretrained``, ``PeftModel.load_adapter``, ``PeftConfig.from_pretrained`` and
    transformers' ``model.load_adapter`` all look the config class up in ``PEFT_TYPE_TO_CONFIG_MAPPING``.
    Only that table gets an entry: ``peft.utils.register_peft_method`` would need a new member of the
    closed ``PeftType`` enum and its own tuner class and prefix, whereas MonoLoRA runs on LoRA's.
    """
    from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING

    PEFT_TYPE_TO_CONFIG_MAPPING[MONOLORA_PEFT_TYPE] = MonoLoraConfig  # type: ignore[index]


def _layer_mapping() -> dict[type[nn.Module], type[nn.Module]]:
    mapping: dict[type[nn.Module], type[nn.Module]] = {nn.Linear: MonoLoraLinear}
    try:  # GPT-2 style models use transformers' Conv1D; lora.Linear handles it via fan_in_fan_out.
        from transformers.pytorch_utils import Conv1D
        mapping[Conv1D] = MonoLoraLinear
    except ImportError:  # pragma: no cover - transformers is in the same extra as peft
        pass
    return mapping


def mono_relu(z: torch.Tensor) -> torch.Tensor:
    """``max(z, 0)`` with derivative 1 at ``z == 0`` (see the module docstring for why)."""
    return z.clamp_min(0)


class MonoLoraVariant(LoraVariant):
    """The forward pass of MonoLoRA; merging is refused."""

    def supports_lora_conversion(self) -> bool:
        return False

    @staticmethod
    def init(module: "MonoLoraLinear", adapter_name: str, **kwargs: Any) -> None:
        config = kwargs["config"]
        module.relu_position[adapter_name] = config.relu_position

    @staticmethod
    def merge_safe(module: LoraLinear, active_adapter: str, orig_weight: torch.Tensor) -> torch.Tensor:
        raise _merge_refused()

    @staticmethod
    def merge_unsafe(module: LoraLinear, active_adapter: str, orig_weight: torch.Tensor) -> None:
        raise _merge_refused()

    @staticmethod
    def unmerge(module: LoraLinear, active_adapter: str, orig_weight: torch.Tensor) -> torch.Tensor:
        raise _merge_refused()

    @staticmethod
    def forward(module: "MonoLoraLinear", active_adapter: str, x: torch.Tensor, result: torch.Tensor,
                **kwargs: Any) -> torch.Tensor:
        """``result`` is ``W0 x`` (plus the base bias); returns the full layer output."""
        lora_A = module.lora_A[active_adapter]
        lora_B = module.lora_B[active_adapter]
        dropout = module.lora_dropout[active_adapter]
        scaling = module.scaling[active_adapter]
        x = module._cast_input_dtype(x, lora_A.weight.dtype)
        code = lora_A(dropout(x))                                   # (..., r)
        if module.relu_position[active_adapter] == "code":
            update = lora_B(mono_relu(code))                        # (..., out)
        else:
            update = mono_relu(lora_B(code))                        # (..., out)
        return result + update * scaling


class MonoLoraLinear(LoraLinear):
    """``peft.tuners.lora.Linear`` that knows the MonoLoRA variant (key ``relu_position``)."""

    def __init__(self, base_layer: nn.Module, adapter_name: str, config: LoraConfig, **kwargs: Any) -> None:
        # Set before super().__init__, which calls update_layer -> MonoLoraVariant.init.
        self.relu_position: dict[str, Optional[str]] = {}
        super().__init__(base_layer, adapter_name, config=config, **kwargs)

    def update_layer(self, adapter_name: str, r: int, lora_alpha: int, config: LoraConfig,
                     **kwargs: Any) -> None:
        # rank_pattern / alpha_pattern: PEFT passes the per-layer r and alpha here.
        self.relu_position[adapter_name] = getattr(config, "relu_position", None)
        super().update_layer(adapter_name, r, lora_alpha=lora_alpha, config=config, **kwargs)

    @property
    def lora_variants(self) -> dict[tuple[str, ...], Optional[type[LoraVariant]]]:
        return {(): None, ("relu_position",): MonoLoraVariant}

    def is_mono(self, adapter_name: str) -> bool:
        """Whether ``adapter_name`` on this layer is a MonoLoRA (not a plain LoRA) adapter."""
        return self.relu_position.get(adapter_name) is not None

    def merge(self, safe_merge: bool = False, adapter_names: Optional[list[str]] = None) -> None:
        names = self.active_adapters if adapter_names is None else adapter_names
        if any(self.is_mono(n) for n in names):
            raise _merge_refused()
        super().merge(safe_merge=safe_merge, adapter_names=adapter_names)

    def get_delta_weight(self, adapter: str) -> torch.Tensor:
        if self.is_mono(adapter):
            raise _merge_refused()
        return super().get_delta_weight(adapter)


register_with_peft()
