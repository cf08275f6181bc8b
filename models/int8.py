"""int8 forms of models for the OpenVINO backend: NNCF post-training quantization, checked.

NNCF is an optional extra (``pip install 'livefx[int8]'``: it brings scipy, scikit-learn and
networkx). The recipe, measured on the default style against fp32 torch on real held-out video
(the carphone clip at 640x480, mean PSNR; ``python -m bench.int8 --tries``,
bench/results/int8-cpu.md):

- the first and last convolutions and the instance norms (OpenVINO's MVN) stay in floating
  point: everything quantized gives 21.5 dB, the ends kept 26.7, the norms kept too 33.7;
  ``preset=MIXED`` (asymmetric activations) gains ~0.5 dB over the default;
- calibration on 16 procedurally drawn scenes (``models.calibration``) at 320x240, whatever the
  stream's size: 35.9 dB, where the same scenes at 640x480 gave 33.7 and 17 real frames of
  another clip 36.3; one calibration serves every size (one cached IR). 32 scenes at 160x120
  read higher on two styles (37.4 here) and lower on two; not taken without a reason;
- slow bias correction and 32 scenes gained nothing (within 0.5 dB); random noise, the first
  try, gave 24.5 dB.

On a CPU without VNNI (plain AVX2: most laptops, AMD Zen 3) OpenVINO multiplies u8 activations by
s8 weights with 16-bit intermediate sums that saturate: measured on an AMD EPYC (Zen 3), the
check on drawn scenes read 26.9 dB for the light rain_princess student where a VNNI CPU reads
34.0. There the recipe quantizes weights to 7 bits (NNCF's overflow fix, ``OverflowFix.ENABLE``):
32.9 dB at the same speed. On every CPU the convolution that writes the residual stream (the
encoder's last, ``conv3``) also stays in floating point: +0.4 to +1.6 dB on the seven shipped
networks there (light rain_princess 34.2), a 1x1 at a quarter of the resolution: no time
measured (bench/NOTES.md section 21).

The result is checked on other scenes (another seed) at 640x480 against the fp32 module:
``picture_db``. Four check scenes read 3.1 dB high on one light student (35.0 against 31.9 on
real video); sixteen read at most 0.8 dB above the worst of three real clips over eight networks,
and up to 3 dB below (``python -m bench.int8``, bench/results/int8-cpu.md), so a
model holds the picture when its check clears the bar by ``CHECK_MARGIN_DB``: a conservative
rule, which may keep fp32 for a model that would have held.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import logging
import warnings
from collections.abc import Callable

import numpy as np
import torch

from .calibration import VERSION as SCENES_VERSION
from .calibration import calibration_tensors

log = logging.getLogger(__name__)

#: The issue's bar: int8 output within this PSNR of fp32 torch on real video.
PICTURE_BAR_DB = 32.0
#: How far above the bar the check on drawn scenes must read (it read up to 0.8 dB high).
CHECK_MARGIN_DB = 1.0
CALIBRATION_SIZE = (320, 240)
CALIBRATION_COUNT = 16
CHECK_SIZE = (640, 480)
CHECK_COUNT = 16
#: Bumped when the recipe below changes, so that cached int8 models are quantized again
#: (2: sixteen check scenes; 3: the residual stream's writer kept, 7-bit weights without VNNI).
RECIPE_VERSION = "3"
#: The encoder's last convolution (the residual stream's input), by its module name in the
#: style networks (teachers' ``conv3.conv2d``, students' ``conv3.expand``).
STREAM_WRITER = "conv3"
INSTALL_HINT = "pip install 'livefx[int8]'"


def nncf_problem() -> str | None:
    """None when NNCF can be imported; else why not, with the fix."""
    if importlib.util.find_spec("nncf") is None:
        return f"needs NNCF, which is not installed; {INSTALL_HINT}"
    return None


@functools.cache
def _nncf():
    import nncf

    nncf.set_log_level(logging.ERROR)  # its INFO lines go to stdout
    # NNCF sends usage telemetry unless the user opted out system-wide; a video filter that
    # quantizes at warm-up should not phone home on the user's behalf.
    with contextlib.suppress(ImportError, AttributeError):
        from nncf.telemetry import decorator, wrapper

        decorator.telemetry = wrapper.NNCFTelemetryStub()
    return nncf


@functools.cache
def cpu_has_vnni() -> bool:
    """Whether the CPU sums u8 x s8 products in 32 bits (AVX512-VNNI, AVX-VNNI or AMX); where
    torch cannot say, no (the recipe then takes the overflow fix, the picture's safe side)."""
    capabilities = getattr(torch.cpu, "get_capabilities", None)
    try:
        found = capabilities() if capabilities is not None else {}
    except Exception:  # noqa: BLE001 - an unknown CPU: assume the common case, no VNNI
        found = {}
    return any(found.get(flag, False) for flag in ("avx512_vnni", "avx_vnni", "amx_int8"))


def recipe_key() -> str:
    """What an int8 model depends on besides the module: the recipe, the scenes, NNCF's version,
    and whether this CPU needs the overflow fix."""
    nncf = _nncf()
    recipe = f"r{RECIPE_VERSION}" + ("" if cpu_has_vnni() else "-w7")
    return f"int8-{recipe}-s{SCENES_VERSION}-{CALIBRATION_SIZE}x{CALIBRATION_COUNT}-nncf{nncf.__version__}"


def kept_convolutions(names: list[str]) -> list[str]:
    """Of a network's convolutions in order, those the recipe keeps in floating point: the
    first, the last, and the last that writes the residual stream."""
    writers = [n for n in names if f"module.{STREAM_WRITER}." in n or f"module.{STREAM_WRITER}/" in n]
    return sorted({*names[:1], *names[-1:], *writers[-1:]})


def quantize(model, scale: float):
    """``model`` (an OpenVINO model taking RGB in [0, ``scale``]) quantized to int8 by the recipe."""
    nncf = _nncf()
    convolutions = [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() == "Convolution"]
    keep = kept_convolutions(convolutions)
    fix = nncf.OverflowFix.FIRST_LAYER if cpu_has_vnni() else nncf.OverflowFix.ENABLE  # FIRST_LAYER: NNCF's default
    inputs = calibration_tensors(*CALIBRATION_SIZE, CALIBRATION_COUNT, scale=scale)
    # NNCF draws progress bars on stdout (rich); they would interleave with the engine's output.
    # It imports setuptools' pkg_resources on the way, which warns about editable installs.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Module .* was already imported", category=UserWarning)
        return nncf.quantize(
            model,
            nncf.Dataset(inputs, lambda x: x.numpy()),
            subset_size=len(inputs),
            preset=nncf.QuantizationPreset.MIXED,
            ignored_scope=nncf.IgnoredScope(names=keep, types=["MVN"], validate=False),
            advanced_parameters=nncf.AdvancedQuantizationParameters(overflow_fix=fix),
        )


def picture_db(reference: Callable[[torch.Tensor], torch.Tensor], candidate: Callable, scale: float) -> float:
    """Mean PSNR of ``candidate``'s output against ``reference``'s on check scenes (not the
    calibration's), both read as [0, ``scale``] pictures."""
    values = []
    for x in calibration_tensors(*CHECK_SIZE, CHECK_COUNT, scale=scale, seed=1):
        with torch.inference_mode():
            ref = reference(x).float().clamp(0, scale) / scale
        out = candidate(x).float().clamp(0, scale) / scale
        if out.shape != ref.shape:  # a runtime that misbuilt the model: no picture at all
            log.warning("int8 output has shape %s, fp32's %s", tuple(out.shape), tuple(ref.shape))
            return float("-inf")
        mse = torch.mean((out - ref) ** 2).item()
        values.append(10 * np.log10(1 / max(mse, 1e-12)))
    return float(np.mean(values))


def holds_picture(figure: float) -> bool:
    """Whether a check figure (``picture_db``) keeps a model within the bar on real video."""
    return figure >= PICTURE_BAR_DB + CHECK_MARGIN_DB


def below_bar_message(model_name: str, figure: float) -> str:
    return (
        f"int8: {model_name} holds {figure:.1f} dB PSNR of fp32 on the check scenes, under the"
        f" {PICTURE_BAR_DB + CHECK_MARGIN_DB:g} dB it needs to hold the {PICTURE_BAR_DB:g} dB picture bar on"
        " real video; its pictures will differ visibly (use bf16 or fp32)"
    )
