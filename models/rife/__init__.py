"""RIFE frame interpolation: the IFNet architecture, checkpoint loading, and the live stage."""

from .ifnet import PAD_MULTIPLE, IFNet, IFNetConfig, Interpolation, pad_to_multiple, warp
from .load import load_ifnet

__all__ = ["PAD_MULTIPLE", "IFNet", "IFNetConfig", "Interpolation", "load_ifnet", "pad_to_multiple", "warp"]
