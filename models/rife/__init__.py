"""RIFE frame interpolation: the IFNet architecture, checkpoint loading, and the live stage."""

from livefx.models.rife.ifnet import PAD_MULTIPLE, IFNet, IFNetConfig, Interpolation, pad_to_multiple, warp
from livefx.models.rife.load import load_ifnet

__all__ = ["PAD_MULTIPLE", "IFNet", "IFNetConfig", "Interpolation", "load_ifnet", "pad_to_multiple", "warp"]
