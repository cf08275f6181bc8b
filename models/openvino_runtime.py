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

OpenVINO fixes a compiled model's thread count, so one compiled model is kept per thread
count the engine may ask for (``set_threads``): all are compiled on the first call, never
mid-stream.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import inspect
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


class OpenVinoModel:
    """``module`` run by OpenVINO on the CPU: a callable on float NCHW tensors, returning a
    tensor of the input's dtype. ``precision``: ``"bf16"`` or ``"fp32"`` (forced inside the
    runtime too). Not for concurrent calls: the engine calls each model from one thread at a time.
    """

    def __init__(self, module: nn.Module, precision: str, threads: Sequence[int], *, cache: bool = True) -> None:
        if precision not in ("bf16", "fp32"):
            raise ValueError(f"OpenVINO precision {precision!r}: use bf16 or fp32")
        # A copy (the caller may cast its own), in the form a graph runtime runs best where the
        # model has one (``graph_form``: the same function, other operations).
        graph_form = getattr(module, "graph_form", None)
        self._module = (graph_form() if graph_form is not None else copy.deepcopy(module)).float().eval()
        self.precision = precision
        self.levels = tuple(sorted(set(threads))) or (1,)
        self.threads = self.levels[-1]
        #: Keep the converted model on disk (False: models converted for one size, e.g. in a bench).
        self.cache = cache
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
        request = self._requests[self.threads]
        request.infer([x.detach().float().contiguous().numpy()])
        out = np.array(request.get_output_tensor(0).data, copy=True)  # the request reuses its buffer
        return torch.from_numpy(out).to(x.dtype)

    def _build(self, example: torch.Tensor) -> None:
        import openvino as ov

        with self._lock:
            if self._requests:
                return
            core = ov.Core()
            model = self._converted(core, example.detach().float())
            config = {
                "INFERENCE_PRECISION_HINT": "bf16" if self.precision == "bf16" else "f32",
                "PERFORMANCE_HINT": "LATENCY",
                # A folder per precision: OpenVINO 2026.4 names a model's blob the same whatever
                # the precision hint, and VideoMAE's blob compiled for f32, loaded with the bf16
                # hint, gave NaN (tests/models/test_openvino_runtime.py).
                "CACHE_DIR": str(cache_dir() / "compiled" / self.precision),
            }
            for count in self.levels:
                compiled = core.compile_model(model, "CPU", {**config, "INFERENCE_NUM_THREADS": count})
                self._requests[count] = compiled.create_infer_request()

    def _converted(self, core, example: torch.Tensor):
        """The module as an OpenVINO model, from the IR cache when it holds it."""
        import openvino as ov

        path = cache_dir() / "ir" / f"{module_key(self._module, example)}.xml"
        if self.cache and path.is_file() and path.with_suffix(".bin").is_file():
            try:
                return core.read_model(str(path))
            except Exception as exc:  # noqa: BLE001 - a damaged cache entry: convert again
                log.warning("OpenVINO cache entry %s unreadable (%s); converting again", path, exc)
        log.info("converting %s for OpenVINO (cached for the next start) ...", type(self._module).__name__)
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer's notes on size checks inside torch's own layers; models that have
            # size-dependent steps of their own never come here (``converts_at_any_size``).
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            model = ov.convert_model(self._module, example_input=example)
        if not self.cache:
            return model
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
        return model
