"""Save and load LoRA / MonoLoRA adapters as safetensors plus ``adapter_config.json``.

Loading never executes code: only ``adapter_model.safetensors`` is accepted (a pickled
``adapter_model.bin`` is refused). A MonoLoRA adapter's config records ``relu_position`` and
``"peft_type": "MONOLORA"``, which ``PeftModel.from_pretrained`` reads once ``monorobust.adapters`` is
imported (and refuses otherwise). ``load_adapter`` also reads folders written before that, with
``"peft_type": "LORA"`` and a ``relu_position``, which plain PEFT would load as a *linear* LoRA.
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from monorobust.errors import ConfigError


def save_adapter(peft_model: nn.Module, path: str | Path) -> Path:
    """Write the adapter (weights as safetensors, config as JSON) to the folder ``path``."""
    path = Path(path)
    peft_model.save_pretrained(str(path), safe_serialization=True)
    return path


def load_adapter(base_model: nn.Module, path: str | Path, is_trainable: bool = False) -> nn.Module:
    """Wrap ``base_model`` with the adapter saved at ``path`` (LoRA or MonoLoRA, told by its config)."""
    from peft import LoraConfig, PeftModel

    from monorobust.adapters.monolora import MonoLoraConfig

    path = Path(path)
    config_file = path / "adapter_config.json"
    if not config_file.is_file():
        raise ConfigError(f"no adapter at {path}: {config_file.name} is missing; pass the folder that "
                          "save_adapter wrote")
    if not (path / "adapter_model.safetensors").is_file():
        raise ConfigError(f"{path} has no adapter_model.safetensors; only safetensors adapters are "
                          "loaded (pickle files can run code): re-save it with safe_serialization=True")
    raw = json.loads(config_file.read_text())
    config_cls = MonoLoraConfig if raw.get("relu_position") is not None else LoraConfig
    config = config_cls.from_pretrained(str(path))
    return PeftModel.from_pretrained(base_model, str(path), config=config, is_trainable=is_trainable)
