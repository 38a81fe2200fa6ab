"""Self-describing checkpoints: one safetensors file whose header carries JSON metadata.

A checkpoint holds tensors (model, optimiser and scheduler state) and a JSON document (epoch,
config, optimiser hyper-parameters) in the safetensors header, written atomically, plus a
human-readable ``.json`` sidecar. Loading parses the header and reads raw tensors: no pickle, so
loading a checkpoint never executes code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from monorobust.io import atomic_write_bytes, atomic_write_text

_KEY = "monorobust"


class Checkpoint(NamedTuple):
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]


def flatten_state(state: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Move every tensor of a nested dict/list into ``tensors`` (keyed by path); return the rest.

    Non-tensor leaves (ints, floats, strings) stay in the returned skeleton, where each tensor is
    replaced by ``{"__tensor__": key}``. ``unflatten_state`` inverts it.
    """
    if isinstance(state, torch.Tensor):
        tensors[prefix] = state.detach().cpu().contiguous()
        return {"__tensor__": prefix}
    if isinstance(state, dict):
        return {"__dict__": [[k, flatten_state(v, f"{prefix}.{k}", tensors)] for k, v in state.items()]}
    if isinstance(state, (list, tuple)):
        return [flatten_state(v, f"{prefix}.{i}", tensors) for i, v in enumerate(state)]
    return state


def unflatten_state(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(skeleton, dict) and "__tensor__" in skeleton:
        return tensors[skeleton["__tensor__"]]
    if isinstance(skeleton, dict) and "__dict__" in skeleton:
        return {k: unflatten_state(v, tensors) for k, v in skeleton["__dict__"]}
    if isinstance(skeleton, list):
        return [unflatten_state(v, tensors) for v in skeleton]
    return skeleton


def save_checkpoint(path: str | Path, states: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write ``states`` (name -> state dict, e.g. model/optimizer/scheduler) and ``meta``."""
    tensors: dict[str, torch.Tensor] = {}
    skeletons = {name: flatten_state(s, name, tensors) for name, s in states.items()}
    doc = dict(meta, states=skeletons)
    # safetensors refuses tensors that share memory; contiguous copies above avoid it.
    tensors = {k: v.clone() for k, v in tensors.items()}
    atomic_write_bytes(path, st_save(tensors, metadata={_KEY: json.dumps(doc)}))
    atomic_write_text(Path(path).with_suffix(".json"), json.dumps(meta, indent=2, default=str) + "\n")


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(states, meta)`` from a file written by ``save_checkpoint``; never unpickles."""
    raw = Path(path).read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + header_len])
    doc = json.loads(header["__metadata__"][_KEY])
    tensors = st_load(raw)
    states = {name: unflatten_state(s, tensors) for name, s in doc.pop("states").items()}
    return states, doc


def checkpoint_path(folder: str | Path, epoch: int) -> Path:
    return Path(folder) / f"epoch-{epoch:04d}.safetensors"


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The checkpoint with the highest epoch number in ``folder`` (None if there is none)."""
    found = sorted(p for p in Path(folder).glob("epoch-*.safetensors")
                   if re.fullmatch(r"epoch-\d{4,}\.safetensors", p.name))
    return found[-1] if found else None
