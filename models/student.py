"""A style network built for latency, distilled from a TransformerNet teacher.

Where the teacher runs 9x9 convs and 128-channel residual blocks at full and quarter
resolution (~153 kMAC per pixel), the student downsamples at once, works in 48
channels at quarter resolution with depthwise-separable residual blocks, and returns
to full resolution with a pixel shuffle plus one thin full-resolution refinement that
sees the input again (~9 kMAC per pixel). Batch norms train normally and fold into the
preceding convs at inference (``fuse``), so the deployed graph is convs and ReLUs only.
Input and output are RGB in [0, 1].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .weights import load_tensors, match_state_dict, read_metadata

STUDENT_FORMAT = "livefx-student"


@dataclass(frozen=True)
class StudentConfig:
    width: int = 48  # channels at quarter resolution
    blocks: int = 5
    #: "batch" folds away at inference; "instance" (quarter-resolution layers only) keeps
    #: the per-frame contrast normalisation the teachers rely on, at a small cost.
    norm: str = "batch"

    def to_metadata(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> StudentConfig:
        return cls(width=int(meta.get("width", 48)), blocks=int(meta.get("blocks", 5)), norm=meta.get("norm", "batch"))


def conv_bn(
    cin: int, cout: int, stride: int = 1, groups: int = 1, kernel: int = 3, norm: str = "batch"
) -> nn.Sequential:
    norm_layer = nn.InstanceNorm2d(cout, affine=True) if norm == "instance" else nn.BatchNorm2d(cout)
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False, padding_mode="reflect"),
        norm_layer,
    )


class SeparableBlock(nn.Module):
    """x + pw(dw(relu(pw(dw(x))))): a residual block at a fraction of a 3x3 conv's cost."""

    def __init__(self, c: int, norm: str = "batch") -> None:
        super().__init__()
        self.dw1, self.pw1 = conv_bn(c, c, groups=c), conv_bn(c, c, kernel=1, norm=norm)
        self.dw2, self.pw2 = conv_bn(c, c, groups=c), conv_bn(c, c, kernel=1, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.pw1(self.dw1(x)))
        return x + self.pw2(self.dw2(y))


class StudentNet(nn.Module):
    def __init__(self, config: StudentConfig | None = None) -> None:
        super().__init__()
        self.config = config or StudentConfig()
        c = self.config.width
        self.down1 = conv_bn(3, c // 2, stride=2)
        norm = self.config.norm
        self.down2 = conv_bn(c // 2, c, stride=2, norm=norm)
        self.blocks = nn.Sequential(*(SeparableBlock(c, norm) for _ in range(self.config.blocks)))
        self.up1 = conv_bn(c, c // 2)
        self.head = nn.Conv2d(c // 2, 12, 3, padding=1, padding_mode="reflect")
        self.refine1 = nn.Conv2d(6, 12, 3, padding=1, padding_mode="reflect")
        self.refine2 = nn.Conv2d(12, 3, 3, padding=1, padding_mode="reflect")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % 4, -w % 4
        xp = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else x
        e1 = F.relu(self.down1(xp))
        y = self.blocks(F.relu(self.down2(e1)))
        y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
        y = F.relu(self.up1(y)) + e1
        y = F.pixel_shuffle(self.head(y), 2)
        y = y + self.refine2(F.relu(self.refine1(torch.cat([y, xp], 1))))
        return y[..., :h, :w]

    @torch.no_grad()
    def fuse(self) -> StudentNet:
        """Fold every BatchNorm into its conv (inference only); returns self."""
        for module in self.modules():
            if isinstance(module, nn.Sequential) and len(module) == 2 and isinstance(module[1], nn.BatchNorm2d):
                conv, bn = module[0], module[1]
                scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                fused = nn.Conv2d(
                    conv.in_channels,
                    conv.out_channels,
                    conv.kernel_size,
                    conv.stride,
                    conv.padding,
                    groups=conv.groups,
                    bias=True,
                    padding_mode=conv.padding_mode,
                )
                fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
                fused.bias.copy_(bn.bias - bn.running_mean * scale)
                module[0], module[1] = fused, nn.Identity()
        return self.eval()


def count_macs(model: nn.Module, height: int, width: int) -> int:
    """Multiply-accumulates of one forward pass at this size: convolutions (transposed ones
    included) and matrix products, as torch's flop counter sees them (half its FLOPs)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, height, width))
    return counter.get_total_flops() // 2


def is_student_file(path: str | Path) -> bool:
    """True for a safetensors file written by the distillation script."""
    return read_metadata(path).get("format") == STUDENT_FORMAT


def read_record(path: str | Path) -> dict:
    """The training record (teacher, steps, quality, MACs) stored in a student's metadata."""
    import json

    return json.loads(read_metadata(path).get("record", "{}"))


def load_student(path: str | Path) -> StudentNet:
    """A fused (inference-form) StudentNet from a distilled safetensors file."""
    net = StudentNet(StudentConfig.from_metadata(read_metadata(path))).fuse()
    tensors = load_tensors(path, expected="a livefx student")
    match_state_dict(net, tensors, path, expected="a livefx student")
    return net.eval()
