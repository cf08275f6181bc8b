"""Fast neural style (Johnson et al. 2016) in the PyTorch-examples ``TransformerNet`` layout.

Loads the published ``.pth`` state dicts (and the legacy ones that still carry
instance-norm ``running_mean``/``running_var``) with ``weights_only=True``.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .accel import accelerate
from .stage import STYLE_STAGE, Stage
from .weights import load_tensors, match_state_dict

_LEGACY_KEY = re.compile(r"(^|\.)in\d+\.running_(mean|var)$")


class ConvLayer(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int) -> None:
        super().__init__()
        self.reflection_pad = nn.ReflectionPad2d(kernel // 2)
        self.conv2d = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2d(self.reflection_pad(x))


class UpsampleConvLayer(ConvLayer):
    """Nearest-neighbour x2 upsampling then a conv (no transposed-conv checkerboards)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.interpolate(x, scale_factor=2, mode="nearest"))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3, 1)
        self.in1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, 3, 1)
        self.in2 = nn.InstanceNorm2d(channels, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.in1(self.conv1(x)))
        return self.in2(self.conv2(y)) + x


class TransformerNet(nn.Module):
    """The teacher network: RGB 0..255 in, RGB (unclamped) out, sizes divisible by 4."""

    #: No size-dependent Python steps: a traced conversion (OpenVINO) holds at every size.
    converts_at_any_size = True

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = ConvLayer(3, 32, 9, 1)
        self.in1 = nn.InstanceNorm2d(32, affine=True)
        self.conv2 = ConvLayer(32, 64, 3, 2)
        self.in2 = nn.InstanceNorm2d(64, affine=True)
        self.conv3 = ConvLayer(64, 128, 3, 2)
        self.in3 = nn.InstanceNorm2d(128, affine=True)
        self.res1 = ResidualBlock(128)
        self.res2 = ResidualBlock(128)
        self.res3 = ResidualBlock(128)
        self.res4 = ResidualBlock(128)
        self.res5 = ResidualBlock(128)
        self.deconv1 = UpsampleConvLayer(128, 64, 3, 1)
        self.in4 = nn.InstanceNorm2d(64, affine=True)
        self.deconv2 = UpsampleConvLayer(64, 32, 3, 1)
        self.in5 = nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = ConvLayer(32, 3, 9, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.in1(self.conv1(x)))
        y = F.relu(self.in2(self.conv2(y)))
        y = F.relu(self.in3(self.conv3(y)))
        y = self.res5(self.res4(self.res3(self.res2(self.res1(y)))))
        y = F.relu(self.in4(self.deconv1(y)))
        y = F.relu(self.in5(self.deconv2(y)))
        return self.deconv3(y)


def load_transformer_net(path: str | Path) -> TransformerNet:
    """A TransformerNet with the weights in ``path`` (.pth or .safetensors), on the CPU."""
    tensors = load_tensors(path, expected="a fast-neural-style TransformerNet")
    tensors = {k: v for k, v in tensors.items() if not _LEGACY_KEY.search(k)}
    net = TransformerNet()
    match_state_dict(net, tensors, path, expected="a fast-neural-style TransformerNet")
    return net.eval()


def load_style(path: str | Path) -> tuple[nn.Module, float]:
    """A style network from ``path`` and the pixel range it works in (255 or 1).

    Distilled styles are safetensors files tagged ``format=livefx-compact`` (the shipped
    ones) or ``livefx-student``; anything else is read as a TransformerNet teacher.
    """
    from .compact import is_compact_file, load_compact
    from .student import is_student_file, load_student

    if is_compact_file(path):
        return load_compact(path), 1.0
    if is_student_file(path):
        return load_student(path), 1.0
    return load_transformer_net(path), 255.0


class StyleStage(Stage):
    """Runs a style network on [0, 1] frames of any size (pads, then crops back).

    ``value_range`` is what the network expects: 255 for the teachers, 1 for students.
    The network runs in the form ``models.accel.accelerate`` picks for ``backend``.
    """

    name = STYLE_STAGE

    def __init__(
        self,
        net: nn.Module,
        device: torch.device,
        dtype: torch.dtype,
        label: str,
        value_range: float = 255.0,
        backend: str = "eager",
        precision: str = "auto",
    ) -> None:
        super().__init__(device, dtype)
        self.run, self.accel = accelerate(
            net, device, backend=backend, dtype=dtype, precision=precision, rgb_scale=value_range, name=label
        )
        self.label = label
        self.value_range = value_range

    @torch.inference_mode()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        # Multiples of 4 survive the two stride-2 convs; 16 keeps every reflection pad valid.
        pad_h, pad_w = max(-h % 4, 16 - h), max(-w % 4, 16 - w)
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        y = self.run(x * self.value_range)[..., :h, :w]
        return (y / self.value_range).clamp_(0.0, 1.0)


def build_style_stage(
    path: Path, device: torch.device, dtype: torch.dtype, backend: str = "auto", precision: str = "auto"
) -> StyleStage:
    """Load the style in ``path`` (teacher or student) as a ready-to-warm-up stage."""
    net, value_range = load_style(path)
    return StyleStage(net, device, dtype, path.stem, value_range, backend, precision)
