import pytest
import torch

import livefx.models.accel as accel
from livefx.models.accel import AccelReport, CompiledWithFallback, accelerate, resolve_dtype
from livefx.models.errors import UsageError
from livefx.models.student import StudentNet

CPU = torch.device("cpu")


def tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 1))


def test_auto_on_cpu_is_eager_fp32():
    net = tiny()
    run, report = accelerate(net, CPU)
    assert report.backend == "eager" and report.dtype == "float32" and not report.cuda_graphs
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(run(x), net(x))


def test_compile_on_cpu_matches_eager():
    net = StudentNet().eval().fuse()
    run, report = accelerate(net, CPU, backend="compile")
    assert report.backend == "compile"
    x = torch.rand(1, 3, 48, 64)
    with torch.inference_mode():
        assert torch.allclose(run(x), net(x), atol=1e-4)


def test_tensorrt_needs_cuda():
    with pytest.raises(UsageError, match="tensorrt: needs a CUDA device"):
        accelerate(tiny(), CPU, backend="tensorrt")


def test_tensorrt_absent_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(accel, "tensorrt_available", lambda: False)
    with pytest.raises(UsageError, match=r"torch-tensorrt is not installed; pip install 'livefx\[tensorrt\]'"):
        accelerate(tiny(), torch.device("cuda"), backend="tensorrt")


def test_unknown_backend_and_precision():
    with pytest.raises(UsageError, match="backend turbo: unknown") as err:
        accelerate(tiny(), CPU, backend="turbo")
    assert err.value.for_cli().startswith("--backend turbo: unknown")  # the CLI names the flag, models do not
    with pytest.raises(UsageError, match="fp16: too slow on the CPU"):
        resolve_dtype("fp16", CPU)
    assert resolve_dtype("auto", CPU) is torch.float32
    assert resolve_dtype("bf16", CPU) is torch.bfloat16


def broken_compiled(x):
    raise RuntimeError("InductorError: no working C++ compiler found")


def test_failed_compilation_falls_back_to_eager_when_not_asked_for():
    net = tiny()
    report = AccelReport("compile", "float32", False, False)
    run = CompiledWithFallback(broken_compiled, net, report, strict=False, cuda=False)
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(run(x), net(x))
    assert report.backend == "eager" and "compile failed" in report.describe()


def test_failed_compilation_is_an_error_when_asked_for(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda model, **kw: broken_compiled)
    run, _ = accelerate(tiny(), CPU, backend="compile")
    with pytest.raises(UsageError, match="backend compile: compilation failed .*C\\+\\+ compiler"):
        run(torch.rand(1, 3, 8, 8))
