"""Checkpoints: tensors (model and optimizer state) in safetensors, everything else in JSON. The step and settings
travel inside the safetensors file's own metadata too, so tensors and step commit together in one atomic rename;
the JSON beside it (written after) is for people and for reading the settings without the tensors."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from cosavatar_pipeline.atomic import atomic_file, write_json_atomic
from cosavatar_pipeline.errors import InputError

TENSORS_FILE = "avatar.safetensors"
META_FILE = "avatar.json"


class CheckpointError(InputError):
    """A checkpoint or stored avatar that cannot be read: truncated, corrupt, or of another architecture."""


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
    full_meta = {**meta, "optimizer": optimizer_meta}
    with atomic_file(folder / TENSORS_FILE) as handle:
        handle.write(save_safetensors(tensors, metadata={"meta": json.dumps(full_meta)}))
    write_json_atomic(folder / META_FILE, full_meta)


def has_checkpoint(folder: Path) -> bool:
    return (Path(folder) / META_FILE).exists() and (Path(folder) / TENSORS_FILE).exists()


def load_checkpoint(folder: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and meta; the meta stored with the tensors wins over the JSON (a save killed between the two files
    leaves the JSON one step behind). CheckpointError naming the file when it cannot be read."""
    path = Path(folder) / TENSORS_FILE
    try:
        tensors = load_safetensors(path.read_bytes())
        with safe_open(str(path), framework="pt") as handle:
            stored = (handle.metadata() or {}).get("meta")
        meta = json.loads(stored) if stored else json.loads((Path(folder) / META_FILE).read_text())
    except Exception as exc:  # OSError, JSON errors, and safetensors' own SafetensorError for a truncated file
        raise CheckpointError(path, f"cannot be read ({type(exc).__name__}: {str(exc)[:160]})") from None
    return tensors, meta


def read_meta(folder: Path) -> dict:
    """The settings and step, from the JSON (cheap: the tensors are not read)."""
    path = Path(folder) / META_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(path, f"cannot be read ({type(exc).__name__}: {str(exc)[:160]})") from None


def discard(folder: Path) -> None:
    for name in (TENSORS_FILE, META_FILE):
        (Path(folder) / name).unlink(missing_ok=True)


def restore(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None, tensors: dict, meta: dict) -> None:
    model.load_state_dict({k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")})
    if optimizer is None or not meta.get("optimizer"):
        return
    saved = meta["optimizer"]
    state = {}
    for param_id, names in saved["state_keys"].items():
        state[int(param_id)] = {
            name: tensors[f"optim.{param_id}.{name}"] if kind == "tensor" else torch.tensor(kind)
            for name, kind in names.items()
        }
    optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
