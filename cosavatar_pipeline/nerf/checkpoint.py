"""Checkpoints: tensors (model and optimizer state) in safetensors, everything else in JSON; both written
atomically, the JSON last, so a checkpoint is whole or absent."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from cosavatar_pipeline.atomic import atomic_file, write_json_atomic

TENSORS_FILE = "avatar.safetensors"
META_FILE = "avatar.json"


def save_checkpoint(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None, meta: dict) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    optimizer_meta = None
    if optimizer is not None:
        state = optimizer.state_dict()
        optimizer_meta = {"param_groups": state["param_groups"], "state_keys": {}}
        for param_id, values in state["state"].items():
            optimizer_meta["state_keys"][str(param_id)] = {}
            for name, value in values.items():
                if torch.is_tensor(value) and value.dim() > 0:
                    tensors[f"optim.{param_id}.{name}"] = value.detach().cpu().contiguous()
                    optimizer_meta["state_keys"][str(param_id)][name] = "tensor"
                else:
                    optimizer_meta["state_keys"][str(param_id)][name] = float(value)
    folder = Path(folder)
    with atomic_file(folder / TENSORS_FILE) as handle:
        handle.write(save_safetensors(tensors))
    write_json_atomic(folder / META_FILE, {**meta, "optimizer": optimizer_meta})


def has_checkpoint(folder: Path) -> bool:
    return (Path(folder) / META_FILE).exists() and (Path(folder) / TENSORS_FILE).exists()


def load_checkpoint(folder: Path) -> tuple[dict[str, torch.Tensor], dict]:
    folder = Path(folder)
    meta = json.loads((folder / META_FILE).read_text())
    tensors = load_safetensors((folder / TENSORS_FILE).read_bytes())
    return tensors, meta


def restore(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None, tensors: dict, meta: dict) -> None:
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    if optimizer is None or not meta.get("optimizer"):
        return
    saved = meta["optimizer"]
    state = {}
    for param_id, names in saved["state_keys"].items():
        state[int(param_id)] = {
            name: tensors[f"optim.{param_id}.{name}"] if kind == "tensor" else torch.tensor(kind) for name, kind in names.items()
        }
    optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
