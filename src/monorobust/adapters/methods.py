"""The adapter methods compared by the experiments, by name: ``lora``, ``monolora``, ``monolora-output``."""

from __future__ import annotations

from typing import Any, Optional

from monorobust.errors import ConfigError

METHODS: dict[str, Optional[str]] = {"lora": None, "monolora": "code", "monolora-output": "output"}
"""Method name -> MonoLoRA ``relu_position`` (None: plain LoRA)."""


def check_methods(methods: tuple[str, ...]) -> None:
    """Raise a ``ConfigError`` for an unknown or repeated method name."""
    for m in methods:
        if m not in METHODS:
            raise ConfigError(f"unknown adapter method {m!r}; choose from {', '.join(METHODS)}")
    if len(set(methods)) != len(methods) or not methods:
        raise ConfigError(f"methods {list(methods)} must be a non-empty list without repeats")


def adapter_config(method: str, **lora_kwargs: Any) -> Any:
    """A ``peft.LoraConfig`` (``lora``) or ``MonoLoraConfig`` with the same LoRA options."""
    from peft import LoraConfig

    from monorobust.adapters.monolora import MonoLoraConfig

    check_methods((method,))
    position = METHODS[method]
    if position is None:
        return LoraConfig(**lora_kwargs)
    return MonoLoraConfig(relu_position=position, **lora_kwargs)
