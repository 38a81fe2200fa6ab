"""LoRA and MonoLoRA adapters on PEFT, and the language-model experiments built on them.

``MonoLoraConfig`` is a drop-in ``peft.LoraConfig`` with one more option, ``relu_position``::

    from peft import get_peft_model
    from monorobust.adapters import MonoLoraConfig, adapter_sparsity
    model = get_peft_model(base, MonoLoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))

Names are imported lazily (PEP 562), so that importing a config module of this package for
``monorobust lora --help`` does not import PEFT and transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RELU_POSITIONS": "monolora", "MonoLoraConfig": "monolora", "MonoLoraLinear": "monolora",
    "MonoLoraMergeError": "monolora", "MonoLoraVariant": "monolora", "mono_relu": "monolora",
    "load_adapter": "persist", "save_adapter": "persist",
    "SparsityMeter": "sparsity", "adapter_sparsity": "sparsity", "sparsity_meter": "sparsity",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"monorobust.adapters.{_EXPORTS[name]}"), name)
