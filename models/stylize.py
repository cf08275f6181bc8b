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
from .stage import STYLE_STAGE, Stage, cheapest_run_ms, set_runtime_threads
from .weights import WeightsError, load_tensors, match_state_dict

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


#: ``StyleStage.step_choices`` of a style with a light student: the full student, then the light one.
FULL_FORM, LIGHT_FORM = 2, 1
#: Where a style's light student lives, beside its weights: ``<folder>/light/<same file name>``.
LIGHT_FOLDER = "light"


def light_variant(path: Path) -> Path | None:
    """The lighter student shipped beside the style in ``path`` (``light/<name>``), if any."""
    candidate = Path(path).parent / LIGHT_FOLDER / Path(path).name
    return candidate if candidate.is_file() else None


class StyleStage(Stage):
    """Runs a style network on [0, 1] frames of any size (pads, then crops back).

    ``value_range`` is what the network expects: 255 for the teachers, 1 for students.
    The network runs in the form ``models.accel.accelerate`` picks for ``backend``.
    With a ``light`` network (a cheaper student of the same style, same value range) the
    stage has two forms, ``step_choices = (FULL_FORM, LIGHT_FORM)``: the engine's planner
    picks one per frame from their measured costs, like a diffusion model's step count.
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
        light: nn.Module | None = None,
    ) -> None:
        super().__init__(device, dtype)
        self.run, self.accel = accelerate(
            net, device, backend=backend, dtype=dtype, precision=precision, rgb_scale=value_range, name=label
        )
        self.label = label
        self.value_range = value_range
        self.light_run = self.light_accel = None
        if light is not None:
            self.light_run, self.light_accel = accelerate(
                light, device, backend=backend, dtype=dtype, precision=precision, rgb_scale=value_range,
                name=f"{label} (light)",
            )  # fmt: skip
            self.step_choices = (FULL_FORM, LIGHT_FORM)
            self.step_names = ("full", "light")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._styled(x, self.run)

    def run_steps(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        """``LIGHT_FORM``: the light student; any other count: the full one."""
        light = steps == LIGHT_FORM and self.light_run is not None
        return self._styled(x, self.light_run if light else self.run)

    def warmup(self, height: int, width: int, runs: int = 3, steps: int | None = None) -> float:
        x = torch.full((1, 3, height, width), 0.5, device=self.device, dtype=self.dtype)
        return cheapest_run_ms(lambda: self.run_steps(x, steps or FULL_FORM), self.device, runs)

    def set_threads(self, count: int) -> None:
        super().set_threads(count)
        set_runtime_threads(self.light_run, count)

    def engine_entries(self) -> dict[str, dict[str, str]]:
        """The stats' ``engine`` entries of the networks this stage runs beside its own (``accel``)."""
        return {} if self.light_accel is None else {f"{self.name}_light": self.light_accel.engine_entry()}

    @torch.inference_mode()
    def _styled(self, x: torch.Tensor, run) -> torch.Tensor:
        h, w = x.shape[-2:]
        # Multiples of 4 survive the two stride-2 convs; 16 keeps every reflection pad valid.
        pad_h, pad_w = max(-h % 4, 16 - h), max(-w % 4, 16 - w)
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        # Students work in [0, 1]: no pass over the frame to scale it there and back.
        y = run(x if self.value_range == 1 else x * self.value_range)[..., :h, :w]
        return (y if self.value_range == 1 else y / self.value_range).clamp_(0.0, 1.0)


def build_style_stage(
    path: Path, device: torch.device, dtype: torch.dtype, backend: str = "auto", precision: str = "auto"
) -> StyleStage:
    """Load the style in ``path`` (teacher or student), with its light student where one is
    shipped beside it (``light_variant``), as a ready-to-warm-up stage."""
    net, value_range = load_style(path)
    light_path = light_variant(path)
    light = None
    if light_path is not None:
        light, light_range = load_style(light_path)
        if light_range != value_range:
            raise WeightsError(f"{light_path}: works in another pixel range than {path}; remove it or replace it")
    return StyleStage(net, device, dtype, path.stem, value_range, backend, precision, light=light)
