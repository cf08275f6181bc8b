import sys

import pytest
import torch

import livefx.models.accel as accel
from livefx.models.accel import AccelReport, CompiledWithFallback, MeasuredChoice, accelerate, resolve_dtype
from livefx.models.errors import UsageError
from livefx.models.openvino_runtime import openvino_problem
from livefx.models.student import StudentNet

CPU = torch.device("cpu")


class AnySize(torch.nn.Sequential):
    converts_at_any_size = True


def tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return AnySize(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 1))


def test_models_with_size_dependent_steps_stay_in_torch():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1))  # declares nothing: may branch on sizes
    run, report = accelerate(net, CPU)
    assert report.backend == "eager" and run is net
    with pytest.raises(UsageError, match="openvino: Sequential has size-dependent steps"):
        accelerate(net, CPU, backend="openvino")


def test_eager_on_cpu_is_the_module_in_fp32():
    net = tiny()
    run, report = accelerate(net, CPU, backend="eager")
    assert report.backend == "eager" and report.dtype == "float32" and not report.cuda_graphs
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(run(x), net(x))


def test_auto_on_cpu_without_openvino_is_eager_and_says_so(monkeypatch, caplog):
    import livefx.models.openvino_runtime as ov

    monkeypatch.setattr(ov, "openvino_problem", lambda: "OpenVINO unavailable (ImportError: test)")
    monkeypatch.setattr(accel, "_said", set())
    net = tiny()
    with caplog.at_level("WARNING", logger="livefx.accel"):
        run, report = accelerate(net, CPU)
        accelerate(net, CPU)
    assert report.backend == "eager" and report.engine_entry() == {"backend": "eager", "precision": "fp32"}
    said = [r.message for r in caplog.records if r.message.startswith("OpenVINO unavailable (ImportError: test)")]
    assert len(said) == 1 and "models run in torch eager (pip install openvino" in said[0]
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(run(x), net(x))
    with pytest.raises(UsageError, match="openvino: OpenVINO unavailable"):
        accelerate(net, CPU, backend="openvino")


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


def test_int8_without_nncf_is_one_clear_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "nncf", None)  # importlib finds no such module
    with pytest.raises(UsageError) as err:
        resolve_dtype("int8", CPU)
    assert err.value.for_cli() == "--precision int8: needs NNCF, which is not installed; pip install 'livefx[int8]'"
    with pytest.raises(UsageError, match=r"pip install 'livefx\[int8\]'"):
        accelerate(tiny(), CPU, precision="int8", rgb_scale=1.0)


def test_int8_runs_on_the_cpu_in_openvino_only(monkeypatch):
    import livefx.models.int8 as int8

    monkeypatch.setattr(int8, "nncf_problem", lambda: None)
    assert resolve_dtype("int8", CPU) is torch.float32  # the tensors: the runtime quantizes inside
    with pytest.raises(UsageError, match="int8: runs on the CPU .OpenVINO., not cuda"):
        resolve_dtype("int8", torch.device("cuda"))
    for backend in ("eager", "compile"):
        with pytest.raises(UsageError, match="int8: runs in OpenVINO; use --backend auto or openvino"):
            accelerate(tiny(), CPU, backend=backend, precision="int8", rgb_scale=1.0)


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


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def timed(clock: FakeClock, seconds: float, value: float):
    def run(x):
        clock.now += seconds
        return torch.full_like(x, value)

    return run


def test_measured_choice_keeps_the_cheaper_form_and_its_report():
    clock = FakeClock()
    slow = AccelReport("eager", "float32", False, False)
    fast = AccelReport("openvino", "bfloat16", False, False)
    choice = MeasuredChoice(
        [("eager", timed(clock, 0.050, 1.0), slow), ("openvino", timed(clock, 0.010, 2.0), fast)], trials=2, clock=clock
    )
    x = torch.zeros(1, 3, 8, 8)
    outputs = [choice(x)[0, 0, 0, 0].item() for _ in range(6)]  # 1 untimed + 2 timed each, in turns
    assert outputs == [1.0, 2.0, 1.0, 2.0, 1.0, 2.0]
    assert choice.chosen == "openvino" and choice.report.backend == "openvino"
    assert choice.report.engine_entry() == {"backend": "openvino", "precision": "bf16"}
    assert "eager 50.0 ms" in choice.report.describe() and "openvino 10.0 ms" in choice.report.describe()
    assert [choice(x)[0, 0, 0, 0].item() for _ in range(3)] == [2.0] * 3


def test_measured_choice_compares_calls_of_different_sizes_per_element():
    clock = FakeClock()

    def per_element(ms_per_element: float, value: float):
        def run(x):
            clock.now += ms_per_element * x.numel() / 1e3
            return torch.full_like(x, value)

        return run

    report = AccelReport("a", "float32", False, False)
    choice = MeasuredChoice([("a", per_element(1.0, 1.0), report), ("b", per_element(2.0, 2.0), report)], clock=clock)
    for size in (8, 8, 16, 16, 4, 4):  # "b" meets only the small sizes: it is still dearer per element
        choice(torch.zeros(1, 3, size, size))
    assert choice.chosen == "a"


def test_measured_choice_drops_a_failing_form():
    clock = FakeClock()

    def broken(x):
        raise RuntimeError("conversion failed: unsupported op")

    eager = ("eager", timed(clock, 0.01, 3.0), AccelReport("eager", "float32", False, False))
    openvino = ("openvino", broken, AccelReport("openvino", "bfloat16", False, False))
    choice = MeasuredChoice([openvino, eager], clock=clock)
    assert choice(torch.zeros(1, 3, 4, 4))[0, 0, 0, 0].item() == 3.0
    assert choice.chosen == "eager" and "conversion failed" in choice.report.describe()


def test_measured_choice_says_how_many_calls_it_needs_before_choosing():
    clock = FakeClock()
    eager = ("eager", timed(clock, 0.050, 1.0), AccelReport("eager", "float32", False, False))
    openvino = ("openvino", timed(clock, 0.010, 2.0), AccelReport("openvino", "float32", False, False))
    choice = MeasuredChoice([openvino, eager], trials=2, clock=clock)
    assert accel.calls_to_decide(choice) == 6  # each: one untimed call, then two timed
    for left in (5, 4, 3, 2, 1, 0):
        choice(torch.zeros(1, 3, 4, 4))
        assert accel.calls_to_decide(choice) == left
    assert choice.chosen == "openvino"
    assert accel.calls_to_decide(eager[1]) == 0  # a plain callable chooses nothing


class OneShape(torch.nn.Sequential):
    converts_at_fixed_shape = True


@pytest.mark.skipif(openvino_problem() is not None, reason=str(openvino_problem()))
@pytest.mark.parametrize("backend", ["auto", "openvino"])
def test_a_fixed_shape_model_is_converted_at_its_first_shape_and_refuses_another(backend):
    torch.manual_seed(0)
    net = OneShape(torch.nn.Conv2d(3, 3, 1))
    run, report = accelerate(net, CPU, backend=backend, precision="fp32")
    assert report.backend == "openvino"  # converted, where a model that declares nothing stays in torch
    x = torch.rand(1, 3, 8, 8)
    with torch.inference_mode():
        for _ in range(accel.calls_to_decide(run) + 1):
            assert torch.allclose(run(x), net(x), atol=1e-5)
        with pytest.raises(ValueError, match=r"OneShape runs at one input shape, 1x3x8x8 .*called with 1x3x16x8"):
            run(torch.rand(1, 3, 16, 8))
        assert torch.allclose(run(x), net(x), atol=1e-5)  # the first shape still runs
    run.set_threads(1)  # the wrapped runtime's own methods reach through
