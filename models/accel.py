"""One place that turns a model into its fastest form for the device.

``accelerate(model, device, backend=...)`` returns a callable on NCHW tensors (further
arguments are passed through) plus a report of what it did. Backends:

- ``eager``: the module itself, in the device's dtype (fp16 on CUDA unless told
  otherwise), channels_last on CUDA.
- ``compile``: ``torch.compile``; on CUDA in ``reduce-overhead`` mode, which captures
  CUDA graphs per fixed input shape. Shapes compile on first use, so callers warm up
  every shape they will use (the pipeline does, before the first live frame).
- ``tensorrt``: torch-tensorrt through ``torch.compile(backend="tensorrt")``, CUDA only.
- ``auto``: ``compile`` on CUDA (falling back to eager if compilation fails), ``eager`` on
  the CPU: there compile measured 1.2-1.9x faster but costs ~9 s of start-up per frame
  size (bench/results/stylize-speed-cpu.md), so it is opt-in with ``--backend compile``.

Every model stage (style, RIFE, VideoMAE, the diffusion parts) goes through this function.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from livefx.models.errors import UsageError

log = logging.getLogger("livefx.accel")

BACKENDS = ("auto", "eager", "compile", "tensorrt")
DTYPES = {"auto": None, "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class AccelReport:
    """What ``accelerate`` chose, for logs and the stats file."""

    backend: str
    dtype: str
    channels_last: bool
    cuda_graphs: bool
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        extras = [self.dtype] + ["channels_last"] * self.channels_last + ["cuda-graphs"] * self.cuda_graphs
        return f"{self.backend} ({', '.join(extras)})" + (f"; {'; '.join(self.notes)}" if self.notes else "")


def default_dtype(device: torch.device) -> torch.dtype:
    """fp16 on CUDA, fp32 on the CPU (CPU half-precision convolutions are slow)."""
    return torch.float16 if device.type == "cuda" else torch.float32


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name not in DTYPES:
        raise UsageError(f"{name}: unknown; use one of {', '.join(DTYPES)}", setting="precision")
    dtype = DTYPES[name] or default_dtype(device)
    if dtype is torch.float16 and device.type == "cpu":
        raise UsageError("fp16: too slow on the CPU; use fp32 (default) or bf16", setting="precision")
    return dtype


def tensorrt_available() -> bool:
    return importlib.util.find_spec("torch_tensorrt") is not None


def accelerate(
    model: nn.Module,
    device: torch.device,
    *,
    backend: str = "auto",
    dtype: torch.dtype | None = None,
) -> tuple[Callable[..., torch.Tensor], AccelReport]:
    """``model`` on ``device`` in its fastest available form, and what was done to it."""
    if backend not in BACKENDS:
        raise UsageError(f"{backend}: unknown; use one of {', '.join(BACKENDS)}", setting="backend")
    dtype = dtype or default_dtype(device)
    cuda = device.type == "cuda"
    if backend == "tensorrt" and not cuda:
        raise UsageError("tensorrt: needs a CUDA device; use compile or eager on the CPU", setting="backend")
    if backend == "tensorrt" and not tensorrt_available():
        raise UsageError(
            "tensorrt: torch-tensorrt is not installed; pip install 'livefx[tensorrt]'"
            " on a CUDA machine, or use compile",
            setting="backend",
        )
    model = model.to(device=device, dtype=dtype).eval()
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    report = AccelReport("eager", str(dtype).removeprefix("torch."), cuda, False)

    if backend == "tensorrt":
        import torch_tensorrt  # noqa: F401 - registers the "tensorrt" compile backend

        compiled = torch.compile(model, backend="tensorrt", dynamic=False)
        report.backend = "tensorrt"
        return _channels_last_input(compiled, cuda), report

    if backend == "compile" or (backend == "auto" and cuda):
        try:
            mode = "reduce-overhead" if cuda else None
            compiled = torch.compile(model, mode=mode, dynamic=False)
        except Exception as exc:  # noqa: BLE001 - fall back to eager, say why
            if backend == "compile":
                raise UsageError(f"compile: torch.compile is unavailable here ({exc})", setting="backend") from None
            report.notes.append(f"torch.compile unavailable ({exc}); eager")
        else:
            report.backend = "compile"
            report.cuda_graphs = cuda
            return CompiledWithFallback(compiled, model, report, strict=backend == "compile", cuda=cuda), report
    return _channels_last_input(model, cuda), report


def _channels_last_input(fn: Callable, cuda: bool) -> Callable[..., torch.Tensor]:
    if not cuda:
        return fn

    def run(x: torch.Tensor, *rest: object) -> torch.Tensor:
        return fn(x.contiguous(memory_format=torch.channels_last), *rest)

    return run


class CompiledWithFallback:
    """A compiled model that falls back to eager if compiling a new shape fails
    (e.g. no C++ compiler on the machine), unless compile was asked for explicitly."""

    def __init__(self, compiled: Callable, eager: nn.Module, report: AccelReport, *, strict: bool, cuda: bool):
        self._compiled = compiled
        self._eager = eager
        self._report = report
        self._strict = strict
        self._cuda = cuda
        self._failed = False

    def __call__(self, x: torch.Tensor, *rest: object) -> torch.Tensor:
        if self._cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        if self._failed:
            return self._eager(x, *rest)
        try:
            y = self._compiled(x, *rest)
        except Exception as exc:  # noqa: BLE001
            if self._strict:
                raise UsageError(
                    f"compile: compilation failed ({str(exc).splitlines()[0][:200]})", setting="backend"
                ) from None
            log.warning("torch.compile failed (%s); running eager", str(exc).splitlines()[0][:200])
            self._failed = True
            self._report.backend = "eager"
            self._report.cuda_graphs = False
            self._report.notes.append("compile failed; eager")
            return self._eager(x, *rest)
        return y.clone() if self._report.cuda_graphs else y  # graph outputs are reused buffers
