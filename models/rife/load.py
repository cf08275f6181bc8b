"""Loading IFNet weights: published RIFE checkpoints and the project's own safetensors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from livefx.models.errors import WeightsError
from livefx.models.rife.ifnet import V4_6_SCALES, IFNet, IFNetConfig
from livefx.models.weights import load_tensors, match_state_dict, read_metadata

EXPECTED = "RIFE IFNet weights (Practical-RIFE v4.6 flownet.pkl or a livefx .safetensors)"
#: Metadata ``format`` of the interpolators this project trains and ships.
RIFE_FORMAT = "livefx-ifnet"
_BLOCK_KEY = re.compile(r"^block(\d+)\.conv0\.1\.0\.weight$")


def strip_module_prefix(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Checkpoints saved from DataParallel/DistributedDataParallel prefix every key with ``module.``."""
    return {k.removeprefix("module."): v for k, v in tensors.items()}


def infer_config(tensors: dict[str, torch.Tensor], path: Path) -> IFNetConfig:
    """Block count and widths from the tensor shapes (v4.6 scales for four blocks)."""
    if any(k.startswith(("encode.", "block_tea")) for k in tensors):
        raise WeightsError(
            f"{path}: a RIFE checkpoint with a feature head or teacher block (v4.7 and later, or a training"
            " checkpoint); livefx supports the v4.6 layout (four blocks, no 'encode.' head)"
        )
    widths = {int(m.group(1)): int(v.shape[0]) for k, v in tensors.items() if (m := _BLOCK_KEY.match(k))}
    if not widths or sorted(widths) != list(range(len(widths))):
        raise WeightsError(f"{path}: not {EXPECTED}: no block{{i}}.conv0.1.0.weight keys found")
    channels = tuple(widths[i] for i in range(len(widths)))
    if len(channels) != len(V4_6_SCALES):
        raise WeightsError(f"{path}: {len(channels)} IFBlocks; the v4.6 layout has {len(V4_6_SCALES)}")
    return IFNetConfig(channels, V4_6_SCALES)


def load_ifnet(path: str | Path) -> IFNet:
    """An IFNet in eval mode with the weights in ``path``; WeightsError with the reason otherwise.

    Accepts the published ``flownet.pkl`` (a plain state dict, with or without the
    ``module.`` prefix; read with ``weights_only=True``) and ``.safetensors``.
    """
    path = Path(path)
    tensors = strip_module_prefix(load_tensors(path, expected=EXPECTED))
    meta = read_metadata(path)
    if "scales" in meta:
        config = IFNetConfig(tuple(json.loads(meta["channels"])), tuple(json.loads(meta["scales"])))
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
    }
