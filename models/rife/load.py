"""Loading IFNet weights: published RIFE checkpoints and the project's own safetensors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from ..errors import WeightsError
from ..weights import load_tensors, match_state_dict, read_metadata
from .ifnet import (
    V4_6_SCALES,
    V4_22,
    V4_22_LITE,
    V4_25,
    V4_25_HEAVY,
    V4_25_LITE,
    V4_26_HEAVY,
    IFNet,
    IFNetConfig,
)

EXPECTED = (
    "RIFE IFNet weights (a Practical-RIFE flownet.pkl: v4.6, 4.21-4.23, 4.22.lite, 4.25, 4.26, 4.25.lite,"
    " 4.25.heavy, 4.26.heavy; or a livefx .safetensors)"
)
#: Metadata ``format`` of the interpolators this project trains and ships.
RIFE_FORMAT = "livefx-ifnet"
_BLOCK_KEY = re.compile(r"^block(\d+)\.conv0\.1\.0\.weight$")


def strip_module_prefix(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Checkpoints saved from DataParallel/DistributedDataParallel prefix every key with ``module.``."""
    return {k.removeprefix("module."): v for k, v in tensors.items()}


def infer_config(tensors: dict[str, torch.Tensor], path: Path) -> IFNetConfig:
    """The layout from the tensor names and shapes alone (checkpoints carry no version).

    Without an ``encode.`` head: the v4.6 family (four blocks, widths read from the file).
    With one: the v4.21+ family, told apart by block count and shapes; 4.25 and 4.26
    share one layout (as do 4.21, 4.22 and 4.23), so either name loads either file."""
    if any(k.startswith("block_tea") for k in tensors):
        raise WeightsError(f"{path}: a RIFE training checkpoint (it has the teacher block); export the flownet")
    widths = {int(m.group(1)): int(v.shape[0]) for k, v in tensors.items() if (m := _BLOCK_KEY.match(k))}
    if not widths or sorted(widths) != list(range(len(widths))):
        raise WeightsError(f"{path}: not {EXPECTED}: no block{{i}}.conv0.1.0.weight keys found")
    channels = tuple(widths[i] for i in range(len(widths)))
    if "encode.cnn3.weight" not in tensors:
        if any(k.startswith("encode.") for k in tensors):
            raise WeightsError(f"{path}: a RIFE feature head without encode.cnn3: not a layout livefx knows")
        if len(channels) != len(V4_6_SCALES):
            raise WeightsError(f"{path}: {len(channels)} IFBlocks; the v4.6 layout has {len(V4_6_SCALES)}")
        return IFNetConfig(channels, V4_6_SCALES)
    head = int(tensors["encode.cnn3.weight"].shape[1])  # ConvTranspose2d weights are (in, out, k, k)
    last = tensors.get(f"block{len(channels) - 1}.lastconv.0.weight")
    if last is None or int(last.shape[1]) != 4 * 13:
        raise WeightsError(
            f"{path}: a RIFE layout with a feature head but without the 8 feature channels per block"
            " (4.7-4.20 or 4.24); livefx loads v4.6 and 4.21 and later (4.22, 4.25, 4.26 and their variants)"
        )
    for known in (V4_22, V4_22_LITE, V4_25, V4_25_LITE, V4_25_HEAVY, V4_26_HEAVY):
        if known.channels == channels and known.head == head:
            return known
    raise WeightsError(
        f"{path}: a RIFE 4.21+ layout with blocks {channels} and {head} feature channels, which matches none"
        " of 4.22, 4.22.lite, 4.25/4.26, 4.25.lite, 4.25.heavy, 4.26.heavy"
    )


def load_ifnet(path: str | Path) -> IFNet:
    """An IFNet in eval mode with the weights in ``path``; WeightsError with the reason otherwise.

    Accepts the published ``flownet.pkl`` (a plain state dict, with or without the
    ``module.`` prefix; read with ``weights_only=True``) and ``.safetensors``.
    """
    path = Path(path)
    tensors = strip_module_prefix(load_tensors(path, expected=EXPECTED))
    meta = read_metadata(path)
    if "scales" in meta:
        config = IFNetConfig(
            tuple(json.loads(meta["channels"])),
            tuple(json.loads(meta["scales"])),
            head=int(meta.get("head", 0)),
            head_width=int(meta.get("head_width", 16)),
            feat=int(meta.get("feat", 0)),
            version=meta.get("version", "4.6"),  # files written before 4.21+ support: the v4.6 layout
            flow_init=meta.get("flow_init", ""),
        )
    else:
        config = infer_config(tensors, path)
    model = IFNet(config)
    match_state_dict(model, tensors, path, expected=EXPECTED)
    return model.eval()


def config_metadata(config: IFNetConfig) -> dict[str, str]:
    """safetensors metadata that lets ``load_ifnet`` rebuild ``config``."""
    return {
        "format": RIFE_FORMAT,
        "channels": json.dumps(list(config.channels)),
        "scales": json.dumps(list(config.scales)),
        "head": str(config.head),
        "head_width": str(config.head_width),
        "feat": str(config.feat),
        "version": config.version,
        "flow_init": config.flow_init,
    }
