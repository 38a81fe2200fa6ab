"""LoRA and MonoLoRA adapters on PEFT, and the language-model experiments built on them.

``MonoLoraConfig`` is a drop-in ``peft.LoraConfig`` with one more option, ``relu_position``::

    from peft import get_peft_model
    from monorobust.adapters import MonoLoraConfig, adapter_sparsity
    model = get_peft_model(base, MonoLoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))

Importing this package imports PEFT; the experiment modules (``classify``, ``align``) are imported
only by their commands.
"""

from monorobust.adapters.monolora import (RELU_POSITIONS, MonoLoraConfig, MonoLoraLinear,
                                          MonoLoraMergeError, MonoLoraVariant, mono_relu)
from monorobust.adapters.persist import load_adapter, save_adapter
from monorobust.adapters.sparsity import SparsityMeter, adapter_sparsity, sparsity_meter

__all__ = ["RELU_POSITIONS", "MonoLoraConfig", "MonoLoraLinear", "MonoLoraMergeError", "MonoLoraVariant",
           "SparsityMeter", "adapter_sparsity", "load_adapter", "mono_relu", "save_adapter",
           "sparsity_meter"]
