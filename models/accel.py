"""One place that turns a model into its fastest form for the device.

``accelerate(model, device, backend=...)`` returns a callable on NCHW tensors (further
arguments are passed through) plus a report of what it did. Backends:

- ``eager``: the module itself, in the device's dtype (fp16 on CUDA unless told
  otherwise), channels_last on CUDA.
- ``compile``: ``torch.compile``; on CUDA in ``reduce-overhead`` mode, which captures
  CUDA graphs per fixed input shape. Shapes compile on first use, so callers warm up
  every shape they will use (the pipeline does, before the first live frame).
- ``tensorrt``: torch-tensorrt through ``torch.compile(backend="tensorrt")``, CUDA only.
- ``openvino``: the OpenVINO runtime on the CPU (``models.openvino_runtime``), in bf16 where
  the CPU runs it natively and the model tolerates it, fp32 otherwise or when asked.
- ``auto``: ``compile`` on CUDA (falling back to eager if compilation fails). On the CPU,
  OpenVINO and eager measured against each other on the first calls (``MeasuredChoice``),
  the faster kept: the shipped styles run 3-10x faster in OpenVINO bf16 on a CPU with AMX,
  while the IFNet gains nothing there (bench/results/backends-cpu.md). Eager alone where
  OpenVINO is missing, with one line saying so. ``compile`` costs ~9 s of start-up per frame
  size on the CPU, so it stays opt-in.

Only models whose class sets ``converts_at_any_size = True`` (no size-dependent Python steps,
checked by the tests at two sizes) go to OpenVINO at every size. A model that is always called at
one shape sets ``converts_at_fixed_shape = True`` instead (VideoMAE: a position table per clip
shape): it is converted at its first call's shape, and a call at another raises ValueError,
whichever form runs. The others stay in torch.

``precision``: ``auto`` (fp16 on CUDA; on the CPU, bf16 inside OpenVINO where the CPU has it
and the model is not ``exact``), ``fp32`` (fp32 everywhere, inside the CPU runtime too),
``bf16``, or ``int8`` (CPU, OpenVINO quantized by NNCF, ``models.int8``; the optional extra
``livefx[int8]``): for the RGB networks (``rgb_scale`` given: the style networks); the others
run in fp32. ``exact`` models (flow fields: their coordinates need fp32) never get bf16 or int8.
Where the CPU has no bf16 units, ``auto`` also measures int8 against fp32 for the RGB networks
when NNCF is installed, and keeps it only where it holds the picture (``models.int8``'s check).

Every model stage (style, RIFE, VideoMAE, the diffusion parts) goes through this function
(VideoMAE on the CPU; on CUDA it stays eager: see ``models.action.classifier``).
"""

from __future__ import annotations

import importlib.util
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from .errors import UsageError, one_line

log = logging.getLogger("livefx.accel")

BACKENDS = ("auto", "eager", "compile", "tensorrt", "openvino")
#: --precision -> the tensors' dtype (int8 models take and give fp32 tensors).
DTYPES = {"auto": None, "fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "int8": torch.float32}


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

    def engine_entry(self) -> dict[str, str]:
        """The stats JSON's ``engine`` entry: ``{"backend": ..., "precision": ...}``."""
        return {"backend": self.backend, "precision": _PRECISION_NAMES.get(self.dtype, self.dtype)}


_PRECISION_NAMES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}


def default_dtype(device: torch.device) -> torch.dtype:
    """fp16 on CUDA, fp32 on the CPU (CPU half-precision convolutions are slow)."""
    return torch.float16 if device.type == "cuda" else torch.float32


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name not in DTYPES:
        raise UsageError(f"{name}: unknown; use one of {', '.join(DTYPES)}", setting="precision")
    if name == "int8":
        return _int8_dtype(device)
    dtype = DTYPES[name] or default_dtype(device)
    if dtype is torch.float16 and device.type == "cpu":
        raise UsageError("fp16: too slow on the CPU; use fp32 (default) or bf16", setting="precision")
    return dtype


def _int8_dtype(device: torch.device) -> torch.dtype:
    """``--precision int8``'s tensors, once it is known to be possible here (else one clear line)."""
    from . import int8

    if device.type != "cpu":
        raise UsageError(f"int8: runs on the CPU (OpenVINO), not {device.type}; use fp16 or fp32", setting="precision")
    problem = int8.nncf_problem()
    if problem is not None:
        raise UsageError(f"int8: {problem}", setting="precision")
    return torch.float32


def tensorrt_available() -> bool:
    return importlib.util.find_spec("torch_tensorrt") is not None


def accelerate(
    model: nn.Module,
    device: torch.device,
    *,
    backend: str = "auto",
    dtype: torch.dtype | None = None,
    precision: str = "auto",
    exact: bool = False,
    rgb_scale: float | None = None,
    name: str | None = None,
) -> tuple[Callable[..., torch.Tensor], AccelReport]:
    """``model`` on ``device`` in its fastest available form, and what was done to it.

    ``dtype``: the tensors' dtype (and eager's); ``precision``: the user's ``--precision``,
    which also rules inside a CPU runtime; ``exact``: the model needs fp32 (see the module doc);
    ``rgb_scale``: the model takes RGB pictures in [0, rgb_scale], so it can be calibrated for
    int8 (None: it cannot, and runs in fp32 under ``--precision int8``); ``name``: what messages
    call the model (a style's name; default: its class)."""
    if backend not in BACKENDS:
        raise UsageError(f"{backend}: unknown; use one of {', '.join(BACKENDS)}", setting="backend")
    if precision == "int8":
        _int8_dtype(device)
        if backend not in ("auto", "openvino"):
            raise UsageError("int8: runs in OpenVINO; use --backend auto or openvino", setting="precision")
    dtype = dtype or default_dtype(device)
    cuda = device.type == "cuda"
    if backend == "openvino" or (backend == "auto" and not cuda):
        chosen = _cpu_runtime(model, device, backend, dtype, precision, exact, rgb_scale, name)
        if chosen is not None:
            return chosen
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


def _cpu_runtime(
    model: nn.Module,
    device: torch.device,
    backend: str,
    dtype: torch.dtype,
    precision: str,
    exact: bool,
    rgb_scale: float | None,
    name: str | None = None,
) -> tuple[Callable[..., torch.Tensor], AccelReport] | None:
    """OpenVINO (``backend="openvino"``, or ``--precision int8``), or OpenVINO measured against
    eager (``auto``); None where auto finds no OpenVINO (the caller goes on with eager)."""
    from . import openvino_runtime as ov

    if device.type != "cpu":
        raise UsageError(f"openvino: runs on the CPU, not {device.type}; use compile or tensorrt", setting="backend")
    fixed_shape = getattr(model, "converts_at_fixed_shape", False)
    int8_able = rgb_scale is not None and not exact and getattr(model, "converts_at_any_size", False)
    if precision == "int8" and not int8_able:
        _say_once(f"int8: for the style networks; {type(model).__name__} runs in fp32", logging.INFO)
        precision = "fp32"
    if not (getattr(model, "converts_at_any_size", False) or fixed_shape):
        # A traced conversion freezes shape-dependent Python steps (padding choices, grid
        # scales): only models that declare they have none, or that they are always called at
        # one shape, may be converted.
        if backend == "openvino":
            raise UsageError(
                f"openvino: {type(model).__name__} has size-dependent steps a converted model would freeze; use eager",
                setting="backend",
            )
        return None
    problem = ov.openvino_problem()
    if problem is not None:
        if backend == "openvino":
            raise UsageError(f"openvino: {problem}; pip install openvino, or use eager", setting="backend")
        _say_once(f"{problem}: models run in torch eager (pip install openvino for the fast CPU path)")
        return None
    if precision in ("bf16", "int8"):
        runtime_precision = precision
    elif precision == "auto" and not exact and ov.cpu_has_bf16():
        runtime_precision = "bf16"
    else:
        runtime_precision = "fp32"
    levels = ov.thread_levels(max(1, torch.get_num_threads()))
    runtime = ov.OpenVinoModel(model, runtime_precision, levels, rgb_scale=rgb_scale or 1.0, name=name)
    report = AccelReport("openvino", _RUNTIME_DTYPES[runtime_precision], False, False)
    run: Callable[..., torch.Tensor]
    if backend == "openvino" or runtime_precision == "int8":  # asked for: not measured against eager
        what = "int8" if runtime_precision == "int8" else "openvino"
        run = _RuntimeAsked(runtime, report, what, "precision" if what == "int8" else "backend")
    else:
        candidates = [("openvino", runtime, report)]
        if precision == "auto" and runtime_precision == "fp32" and int8_able and _int8_worth_measuring():
            quantized = ov.OpenVinoModel(model, "int8", levels, rgb_scale=rgb_scale, refuse_below_bar=True, name=name)
            candidates.append(("openvino int8", quantized, AccelReport("openvino", "int8", False, False)))
        eager = model.to(device=device, dtype=dtype).eval()
        candidates.append(("eager", eager, AccelReport("eager", str(dtype).removeprefix("torch."), False, False)))
        run = MeasuredChoice(candidates)
        report = run.report
    return (_OneShape(run, type(model).__name__) if fixed_shape else run), report


def calls_to_decide(run: object) -> int:
    """Calls ``run`` still needs before its backend is chosen (``MeasuredChoice``; 0 for the
    others): a stage that warms up on fewer calls runs them first, so the choice (and the
    stats' engine entry) is made before the first live frame."""
    return int(getattr(run, "calls_to_decide", 0))


_RUNTIME_DTYPES = {"bf16": "bfloat16", "fp32": "float32", "int8": "int8"}


def _int8_worth_measuring() -> bool:
    """int8 is a candidate of ``auto`` where the CPU runs it natively and NNCF is installed
    (it is not where the CPU has bf16: there bf16 measured as fast, without quantizing). Where
    only NNCF is missing, one line says what it would give."""
    from . import int8
    from . import openvino_runtime as ov

    if not ov.cpu_has_int8():
        return False
    if int8.nncf_problem() is not None:
        _say_once(
            "int8: this CPU has no bf16 units; with NNCF the styles could run in int8, 1.4-1.7x faster"
            f" where the picture holds ({int8.INSTALL_HINT})",
            logging.INFO,
        )
        return False
    return True


_said: set[str] = set()


def _say_once(message: str, level: int = logging.WARNING) -> None:
    if message not in _said:
        _said.add(message)
        log.log(level, message)


class _RuntimeAsked:
    """An explicitly asked-for runtime (``--backend openvino``, ``--precision int8``): its
    failures (conversion, quantization, compilation) reach the user as one readable line,
    ``"<what>: <why>"`` about ``setting``, not a runtime's traceback."""

    def __init__(self, runtime: Callable, report: AccelReport, what: str = "openvino", setting: str = "backend"):
        self._runtime, self._report = runtime, report
        self._what, self._setting = what, setting

    def set_threads(self, count: int) -> None:
        set_threads = getattr(self._runtime, "set_threads", None)
        if set_threads is not None:
            set_threads(count)

    def __call__(self, x: torch.Tensor, *rest: object) -> torch.Tensor:
        try:
            return self._runtime(x, *rest)
        except Exception as exc:  # noqa: BLE001 - any runtime failure, said in one line
            raise UsageError(f"{self._what}: {one_line(exc)}", setting=self._setting) from None


class _OneShape:
    """A model converted at its first call's input shape (``converts_at_fixed_shape``): a call at
    another shape raises ValueError instead of reaching a graph frozen for the first. Other
    attributes (``set_threads``, ``chosen``, ...) are the wrapped callable's."""

    def __init__(self, run: Callable[..., torch.Tensor], name: str) -> None:
        self._run, self._name = run, name
        self.shape: tuple[int, ...] | None = None

    def __getattr__(self, name: str) -> object:
        if "_run" not in self.__dict__:  # not yet initialised (copy, pickle)
            raise AttributeError(name)
        return getattr(self.__dict__["_run"], name)

    def __call__(self, x: torch.Tensor, *rest: object) -> torch.Tensor:
        shape = tuple(x.shape)
        if self.shape is None:
            self.shape = shape
        elif shape != self.shape:
            raise ValueError(
                f"{self._name} runs at one input shape, {'x'.join(map(str, self.shape))}"
                f" (converts_at_fixed_shape); called with {'x'.join(map(str, shape))}"
            )
        return self._run(x, *rest)


class MeasuredChoice:
    """Several forms of one model timed against each other on its first calls; the fastest
    is kept. Each candidate's first call (conversion, compilation) is not counted; then the
    candidates take turns, so that load on the machine hits all alike, until each has ``trials``
    timed calls. Calls may differ in size (warm-up runs several): costs are compared per
    input element, the cheapest call of each. A candidate that fails is dropped. ``report``
    follows the choice."""

    def __init__(
        self,
        candidates: list[tuple[str, Callable, AccelReport]],
        trials: int = 2,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._candidates = candidates
        self._calls: dict[str, int] = {name: 0 for name, _, _ in candidates}
        #: Timed calls of each candidate: ms per input element.
        self._costs: dict[str, list[float]] = {name: [] for name, _, _ in candidates}
        self._trials = trials
        self._clock = clock
        self._chosen: tuple[str, Callable, AccelReport] | None = None
        self.report = AccelReport(**{**vars(candidates[0][2]), "notes": ["measuring against eager"]})

    @property
    def chosen(self) -> str | None:
        return self._chosen[0] if self._chosen else None

    @property
    def calls_to_decide(self) -> int:
        """Calls still needed before the choice is made (0 once it is)."""
        if self._chosen is not None:
            return 0
        return sum(
            (self._calls[name] == 0) + max(0, self._trials - len(self._costs[name])) for name, _, _ in self._candidates
        )

    def set_threads(self, count: int) -> None:
        for _, run, _ in self._candidates:
            set_threads = getattr(run, "set_threads", None)
            if set_threads is not None:
                set_threads(count)

    def __call__(self, x: torch.Tensor, *rest: object) -> torch.Tensor:
        if self._chosen is not None:
            return self._chosen[1](x, *rest)
        name, run, _ = min(self._candidates, key=lambda c: (len(self._costs[c[0]]), self._calls[c[0]]))
        t0 = self._clock()
        try:
            y = run(x, *rest)
        except Exception as exc:  # noqa: BLE001 - drop the candidate, say why
            log.warning("%s failed (%s); measuring the others", name, one_line(exc))
            self._candidates = [c for c in self._candidates if c[0] != name]
            if not self._candidates:
                raise
            if len(self._candidates) == 1:
                self._choose(self._candidates[0], f"{name} failed: {one_line(exc)}")
            return self(x, *rest)
        elapsed_ms = (self._clock() - t0) * 1e3
        self._calls[name] += 1
        if self._calls[name] > 1:
            self._costs[name].append(elapsed_ms / x.numel())
        if all(len(self._costs[c[0]]) >= self._trials for c in self._candidates):
            best = min(self._candidates, key=lambda c: min(self._costs[c[0]]))
            figures = ", ".join(f"{c[0]} {min(self._costs[c[0]]) * x.numel():.1f} ms" for c in self._candidates)
            self._choose(best, f"measured, at {x.shape[-1]}x{x.shape[-2]}: {figures}")
        return y

    def _choose(self, candidate: tuple[str, Callable, AccelReport], why: str) -> None:
        self._chosen = candidate
        self._candidates = [candidate]
        chosen_report = candidate[2]
        for key in ("backend", "dtype", "channels_last", "cuda_graphs"):
            setattr(self.report, key, getattr(chosen_report, key))
        self.report.notes = [*chosen_report.notes, why]
        log.info("backend %s (%s)", self.report.backend, why)


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
