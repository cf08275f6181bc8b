"""OpenVINO as a CPU backend for ``models.accel``.

The torch module is converted directly (``openvino.convert_model``, no ONNX file) on its first
call, with that call's input as the example; every input dimension stays dynamic, so a stream
whose size changes (camera switch, resolution menu) runs on the same compiled model. Measured on
the shipped styles (bench/results/backends-cpu.md): dynamic shapes cost nothing measurable.

Two caches make the second start fast (``cache_dir()``; ``LIVEFX_CACHE_DIR`` moves it):

- the converted model (OpenVINO IR), keyed by the module's class and source file, its weights,
  the input's rank and channels and the runtime's version (conversion costs ~3 s, reading the IR ~30 ms);
- OpenVINO's own compiled-blob cache (``CACHE_DIR``, one folder per precision), which it keys
  by model, thread count and runtime version itself.

``int8`` (``models.int8``, NNCF; an optional extra): the converted model is quantized once,
on procedurally drawn calibration scenes, checked against the fp32 module (``picture_db``) and
cached as its own IR (keyed by the module's key, the recipe and the input range) with the
check's figure beside it; what stays in floating point runs in bf16 where the CPU has it.

OpenVINO fixes a compiled model's thread count, so one compiled model is kept per thread
count the engine may ask for (``set_threads``): all are compiled on the first call, never
mid-stream.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import inspect
import json
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

log = logging.getLogger("livefx.accel")

#: Bumped when what is cached for a module changes meaning.
_CACHE_FORMAT = "1"


@functools.cache
def openvino_problem() -> str | None:
    """None when the OpenVINO runtime imports and has a CPU device; else why not, in a few words."""
    try:
        import openvino as ov

        if "CPU" not in ov.Core().available_devices:
            return "OpenVINO sees no CPU device"
    except Exception as exc:  # noqa: BLE001 - any import failure means: keep eager
        return f"OpenVINO unavailable ({type(exc).__name__}: {str(exc)[:120]})"
    return None


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether OpenVINO runs bf16 natively on this CPU (AVX512-BF16 or AMX)."""
    if openvino_problem() is not None:
        return False
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@functools.cache
def cpu_has_int8() -> bool:
    """Whether OpenVINO runs int8 on this CPU (what gains it measures is the caller's business:
    VNNI or AMX make it pay)."""
    if openvino_problem() is not None:
        return False
    import openvino as ov

    return "INT8" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def runtime_version() -> str:
    import openvino as ov

    return ov.get_version()


def cache_dir() -> Path:
    """Where converted and compiled models are kept between starts."""
    root = os.environ.get("LIVEFX_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "livefx"
    )
    return Path(root) / "openvino"


def thread_levels(cores: int) -> tuple[int, ...]:
    """The thread counts worth having compiled for ``cores``: every count up to 4, then
    one thread, half and all (the steps the engine's thread tuner moves between)."""
    cores = max(1, cores)
    if cores <= 4:
        return tuple(range(1, cores + 1))
    return tuple(sorted({1, cores // 2, cores - 1, cores}))


def module_key(module: nn.Module, example: torch.Tensor) -> str:
    """A digest of what the converted model depends on: class, weights, input layout, runtime."""
    digest = hashlib.sha256()
    digest.update(f"{_CACHE_FORMAT}|{type(module).__module__}.{type(module).__qualname__}|".encode())
    # The code that defines the graph: an edited model file converts again.
    source = inspect.getsourcefile(type(module))
    if source is not None and os.path.isfile(source):
        digest.update(Path(source).read_bytes())
    digest.update(repr(sorted((name, vars(m).get("fold_norms")) for name, m in module.named_modules())).encode())
    digest.update(f"{example.dim()}|{example.shape[1]}|{runtime_version()}|".encode())
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().float().contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


class BelowPictureBar(RuntimeError):
    """An int8 model whose check figure does not hold the picture (``models.int8.holds_picture``)."""


class OpenVinoModel:
    """``module`` run by OpenVINO on the CPU: a callable on float NCHW tensors, returning a
    tensor of the input's dtype. ``precision``: ``"bf16"``, ``"fp32"`` (forced inside the
    runtime too) or ``"int8"`` (``rgb_scale``: the module takes RGB in [0, rgb_scale]; below the
    picture bar it is said once, or refused with ``BelowPictureBar`` when ``refuse_below_bar``).
    Not for concurrent calls: the engine calls each model from one thread at a time.
    """

    def __init__(
        self,
        module: nn.Module,
        precision: str,
        threads: Sequence[int],
        *,
        cache: bool = True,
        rgb_scale: float = 1.0,
        refuse_below_bar: bool = False,
        name: str | None = None,
    ) -> None:
        if precision not in ("bf16", "fp32", "int8"):
            raise ValueError(f"OpenVINO precision {precision!r}: use bf16, fp32 or int8")
        # A copy (the caller may cast its own), in the form a graph runtime runs best where the
        # model has one (``graph_form``: the same function, other operations).
        graph_form = getattr(module, "graph_form", None)
        self._module = (graph_form() if graph_form is not None else copy.deepcopy(module)).float().eval()
        self.precision = precision
        self.levels = tuple(sorted(set(threads))) or (1,)
        self.threads = self.levels[-1]
        #: Keep the converted model on disk (False: models converted for one size, e.g. in a bench).
        self.cache = cache
        self.rgb_scale = rgb_scale
        self.refuse_below_bar = refuse_below_bar
        #: What messages call the model (a style's name).
        self.name = name or type(module).__name__
        #: int8: mean PSNR (dB) of its output against the fp32 module's on the check scenes.
        self.picture_db: float | None = None
        self._requests: dict[int, object] = {}
        self._lock = threading.Lock()

    def set_threads(self, count: int) -> int:
        """Run with the largest compiled thread count <= ``count``; returns the count now used."""
        self.threads = max([n for n in self.levels if n <= count] or [self.levels[0]])
        return self.threads

    def __call__(self, x: torch.Tensor, *rest: object) -> torch.Tensor:
        if rest:
            raise TypeError("the OpenVINO backend takes one input tensor")
        if not self._requests:
            self._build(x)
        return self._infer(self._requests[self.threads], x)

    @staticmethod
    def _infer(request, x: torch.Tensor) -> torch.Tensor:
        # share_inputs: the runtime reads the array in place (a copy of it was 10% of a light
        # student's call at 640x480); the call is synchronous, so the array outlives its use.
        request.infer([x.detach().float().contiguous().numpy()], share_inputs=True)
        out = np.array(request.get_output_tensor(0).data, copy=True)  # the request reuses its buffer
        return torch.from_numpy(out).to(x.dtype)

    def _build(self, example: torch.Tensor) -> None:
        import openvino as ov

        with self._lock:
            if self._requests:
                return
            core = ov.Core()
            key = module_key(self._module, example.detach().float())
            model = self._converted(core, example.detach().float(), key)
            if self.precision == "int8":
                model = self._quantized(core, model, key)
            hint = {"bf16": "bf16", "fp32": "f32", "int8": "bf16" if cpu_has_bf16() else "f32"}[self.precision]
            config = {
                "INFERENCE_PRECISION_HINT": hint,
                "PERFORMANCE_HINT": "LATENCY",
                # A folder per precision: OpenVINO 2026.4 names a model's blob the same whatever
                # the precision hint, and VideoMAE's blob compiled for f32, loaded with the bf16
                # hint, gave NaN (tests/models/test_openvino_runtime.py).
                "CACHE_DIR": str(cache_dir() / "compiled" / self.precision),
            }
            requests = {}
            for count in self.levels:
                compiled = core.compile_model(model, "CPU", {**config, "INFERENCE_NUM_THREADS": count})
                requests[count] = compiled.create_infer_request()
            if self.precision == "int8":
                self._check(requests[self.levels[-1]], key)
            self._requests = requests

    def _converted(self, core, example: torch.Tensor, key: str):
        """The module as an OpenVINO model, from the IR cache when it holds it."""
        import openvino as ov

        path = cache_dir() / "ir" / f"{key}.xml"
        cached = self._read(core, path)
        if cached is not None:
            return cached
        log.info("converting %s for OpenVINO (cached for the next start) ...", type(self._module).__name__)
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer's notes on size checks inside torch's own layers; models that have
            # size-dependent steps of their own never come here (``converts_at_any_size``).
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            model = ov.convert_model(self._module, example_input=example)
        self._save(model, path)
        return model

    def _int8_path(self, key: str) -> Path:
        from . import int8

        digest = hashlib.sha256(f"{key}|{int8.recipe_key()}|rgb{self.rgb_scale:g}".encode()).hexdigest()[:32]
        return cache_dir() / "ir" / f"{digest}.xml"

    def _quantized(self, core, model, key: str):
        """``model`` quantized to int8 (``models.int8``), from the IR cache when it holds it,
        with the check figure cached beside it."""
        from . import int8

        path = self._int8_path(key)
        cached = self._read(core, path)
        if cached is not None:
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                self.picture_db = float(json.loads(path.with_suffix(".json").read_text())["picture_db"])
            return cached
        log.info("quantizing %s to int8 (cached for the next start) ...", self.name)
        quantized = int8.quantize(model, self.rgb_scale)
        self._save(quantized, path)
        return quantized

    def _check(self, request, key: str) -> None:
        """Measure the int8 picture (unless cached), then say or refuse it below the bar."""
        from . import int8

        if self.picture_db is None:
            self.picture_db = int8.picture_db(self._module, lambda x: self._infer(request, x), self.rgb_scale)
            if self.cache:
                with contextlib.suppress(OSError):
                    self._int8_path(key).with_suffix(".json").write_text(json.dumps({"picture_db": self.picture_db}))
        if int8.holds_picture(self.picture_db):
            log.info("int8 %s: %.1f dB PSNR of fp32 on the check scenes", self.name, self.picture_db)
            return
        message = int8.below_bar_message(self.name, self.picture_db)
        if self.refuse_below_bar:
            raise BelowPictureBar(message)
        log.warning(message)

    def _read(self, core, path: Path):
        """The cached model at ``path``; None when absent, unreadable or caching is off."""
        if not (self.cache and path.is_file() and path.with_suffix(".bin").is_file()):
            return None
        try:
            return core.read_model(str(path))
        except Exception as exc:  # noqa: BLE001 - a damaged cache entry: convert again
            log.warning("OpenVINO cache entry %s unreadable (%s); converting again", path, exc)
            return None

    def _save(self, model, path: Path) -> None:
        import openvino as ov

        if not self.cache:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
                staged = Path(tmp) / path.name
                ov.save_model(model, str(staged), compress_to_fp16=False)
                # The weights first: a reader that finds the .xml finds its .bin.
                os.replace(staged.with_suffix(".bin"), path.with_suffix(".bin"))
                os.replace(staged, path)
        except OSError as exc:
            log.warning("could not cache the converted model in %s (%s); the next start converts again", path, exc)
