"""Safe loading of weight files: safetensors or ``torch.load(weights_only=True)``, never pickle."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from .errors import WeightsError, one_line


def load_tensors(path: str | Path, *, expected: str) -> dict[str, torch.Tensor]:
    """A flat dict of tensors from ``path``; WeightsError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file (expected {expected}); check the path")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            tensors = load_file(str(path), device="cpu")
        else:
            tensors = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any parse failure means "not a weights file"
        reason = _load_failure(exc)
        raise WeightsError(
            f"{path}: not a readable weights file ({reason}); expected {expected}"
            " saved with torch.save(state_dict) or as .safetensors"
        ) from None
    if isinstance(tensors, dict) and "state_dict" in tensors and isinstance(tensors["state_dict"], dict):
        tensors = tensors["state_dict"]
    if not isinstance(tensors, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in tensors.items()
    ):
        raise WeightsError(f"{path}: holds {type(tensors).__name__}, not a state dict of tensors; expected {expected}")
    return tensors


def _load_failure(exc: BaseException) -> str:
    """Why a file did not load, in a clause (torch's weights-only text is long and generic)."""
    text = str(exc)
    if "Weights only load failed" in text:
        found = re.search(r"GLOBAL ([\w.]+)", text)
        if found:
            return f"it stores Python objects ({found.group(1)}), not only tensors; livefx never unpickles code"
        return "not a PyTorch checkpoint: its data is not a pickle of tensors"
    return one_line(exc)


def match_state_dict(model: nn.Module, tensors: dict[str, torch.Tensor], path: str | Path, *, expected: str) -> None:
    """Load ``tensors`` into ``model`` strictly, with a readable error on any mismatch."""
    own = model.state_dict()
    missing = [k for k in own if k not in tensors]
    unexpected = [k for k in tensors if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise WeightsError(f"{path}: not {expected}: keys {', '.join(parts)}")
    for key, value in own.items():
        if tensors[key].shape != value.shape:
            raise WeightsError(
                f"{path}: not {expected}: {key} has shape {tuple(tensors[key].shape)}, expected {tuple(value.shape)}"
            )
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in tensors.items()}, strict=True)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The string metadata of a ``.safetensors`` file; {} for other or unreadable files
    (``load_tensors`` reports those properly)."""
    path = Path(path)
    if path.suffix != ".safetensors" or not path.is_file():
        return {}
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception:  # noqa: BLE001
        return {}
