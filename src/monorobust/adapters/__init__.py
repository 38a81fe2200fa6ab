"""LoRA and MonoLoRA adapters on PEFT, and the language-model experiments built on them.

``MonoLoraConfig`` is a drop-in ``peft.LoraConfig`` with one more option, ``relu_position``::

    from peft import get_peft_model
    from monorobust.adapters import MonoLoraConfig, adapter_sparsity
    model = get_peft_model(base, MonoLoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))

Names are imported lazily (PEP 562), so that importing a config module of this package for
``monorobust lora --help`` does not import PEFT and transformers.

Importing this package registers MonoLoRA with PEFT (``monolora.register_with_peft``), so that
``PeftModel.from_pretrained(base, folder)`` rebuilds a saved MonoLoRA adapter: at once if PEFT is
already imported, otherwise right after PEFT's own import finishes (a one-shot import hook), so
that this import stays as light as before.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
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


def _register_with_peft() -> None:
    try:
        importlib.import_module("monorobust.adapters.monolora")      # registers on import
    except ImportError as exc:  # a PEFT without LoraVariant: MonoLoRA folders then fail with KeyError
        warnings.warn(f"MonoLoRA could not be registered with PEFT ({exc}); saved MonoLoRA adapters "
                      "will not load", stacklevel=2)


class _RegisterAfterPeftImport(importlib.abc.MetaPathFinder):
    """Finds ``peft`` like the other finders, then runs ``_register_with_peft`` once it has executed."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "peft":
            return None
        sys.meta_path.remove(self)                      # one shot; the lookup below must not recurse
        spec = importlib.util.find_spec("peft")
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            exec_module = spec.loader.exec_module

            def exec_then_register(module: Any) -> None:
                exec_module(module)                     # sys.modules["peft"] is complete after this
                _register_with_peft()

            spec.loader.exec_module = exec_then_register  # type: ignore[method-assign]
        return spec


if "peft" in sys.modules:
    _register_with_peft()
else:
    sys.meta_path.insert(0, _RegisterAfterPeftImport())
