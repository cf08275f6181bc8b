"""int8 forms of models for the OpenVINO backend: NNCF post-training quantization, checked.

NNCF is an optional extra (``pip install 'livefx[int8]'``: it brings scipy, scikit-learn and
networkx). The recipe, measured on the shipped styles against fp32 torch on real held-out video
(the carphone clip at 640x480; ``python -m bench.int8``):

- the first and last convolutions and the instance norms (OpenVINO's MVN) stay in floating
  point: quantizing all of them loses 13 dB (21 dB PSNR), the ends alone 7 dB, the norms' inputs
  alone 7 dB; ``preset=MIXED`` (asymmetric activations) gains ~0.6 dB over the default;
- calibration on 16 procedurally drawn scenes (``models.calibration``) at 320x240, whatever the
  stream's size: at 640x480 they held the picture better than the same scenes at 480x360 or
  640x480 (35.9 against 34.6 and 33.7 dB on the default style) and as well as real frames,
  and one calibration serves every size (the IR is cached once);
- slow bias correction, 32 or 48 frames and min-max ranges gained nothing (within 0.5 dB).

The result is checked on other scenes (another seed) at 640x480 against the fp32 module:
``picture_db``. On real video that check read at or below the real figure on each shipped
style, so it errs on the safe side. Styles differ: three hold the 32 dB bar, candy (28 dB) not.
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

#: The issue's bar: int8 output within this PSNR of fp32 torch.
PICTURE_BAR_DB = 32.0
CALIBRATION_SIZE = (320, 240)
CALIBRATION_COUNT = 16
CHECK_SIZE = (640, 480)
CHECK_COUNT = 4
#: Bumped when the recipe below changes, so that cached int8 models are quantized again.
RECIPE_VERSION = "1"
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


def recipe_key() -> str:
    """What an int8 model depends on besides the module: the recipe, the scenes, NNCF's version."""
    nncf = _nncf()
    return f"int8-r{RECIPE_VERSION}-s{SCENES_VERSION}-{CALIBRATION_SIZE}x{CALIBRATION_COUNT}-nncf{nncf.__version__}"


def quantize(model, scale: float):
    """``model`` (an OpenVINO model taking RGB in [0, ``scale``]) quantized to int8 by the recipe."""
    nncf = _nncf()
    convolutions = [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() == "Convolution"]
    keep = sorted({convolutions[0], convolutions[-1]}) if convolutions else []
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
        )


def picture_db(reference: Callable[[torch.Tensor], torch.Tensor], candidate: Callable, scale: float) -> float:
    """Mean PSNR of ``candidate``'s output against ``reference``'s on check scenes (not the
    calibration's), both read as [0, ``scale``] pictures."""
    values = []
    for x in calibration_tensors(*CHECK_SIZE, CHECK_COUNT, scale=scale, seed=1):
        with torch.inference_mode():
            ref = reference(x).float().clamp(0, scale) / scale
        out = candidate(x).float().clamp(0, scale) / scale
        mse = torch.mean((out - ref) ** 2).item()
        values.append(10 * np.log10(1 / max(mse, 1e-12)))
    return float(np.mean(values))


def below_bar_message(model_name: str, figure: float) -> str:
    return (
        f"int8: {model_name} holds {figure:.1f} dB PSNR of fp32 on the check scenes, below the"
        f" {PICTURE_BAR_DB:.0f} dB picture bar; its pictures will differ visibly (use bf16 or fp32)"
    )
