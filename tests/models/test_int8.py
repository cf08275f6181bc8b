"""int8 through NNCF on tiny nets: close to fp32, cached, checked against the picture bar."""

import json
import logging
from pathlib import Path

import pytest
import torch

import livefx.models.accel as accel
import livefx.models.int8 as int8
import livefx.models.openvino_runtime as ovr
from livefx.models.accel import accelerate

pytestmark = [
    pytest.mark.skipif(ovr.openvino_problem() is not None, reason=str(ovr.openvino_problem())),
    pytest.mark.skipif(int8.nncf_problem() is not None, reason=f"int8: {int8.nncf_problem()}"),
]
CPU = torch.device("cpu")


class TinyStyle(torch.nn.Sequential):
    converts_at_any_size = True


def tiny() -> torch.nn.Module:
    """Conv, norm, ReLU, conv, ReLU, conv: the first and last stay fp (the recipe), the middle
    one is quantized."""
    torch.manual_seed(0)
    return TinyStyle(
        torch.nn.Conv2d(3, 16, 3, padding=1),
        torch.nn.InstanceNorm2d(16, affine=True),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 3, 1),
        torch.nn.Sigmoid(),
    ).eval()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("LIVEFX_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(accel, "_said", set())
    return tmp_path / "openvino" / "ir"


def photo(width: int = 96, height: int = 64) -> torch.Tensor:
    """A real photo (scikit-image's astronaut), 1 x 3 x H x W in [0, 1]."""
    import cv2
    from skimage import data

    image = cv2.resize(data.astronaut(), (width, height), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255


def test_int8_is_close_to_fp32_and_its_quantized_ir_is_cached_with_the_check(cache, monkeypatch):
    net = tiny()
    run, report = accelerate(net, CPU, precision="int8", rgb_scale=1.0)
    assert report.engine_entry() == {"backend": "openvino", "precision": "int8"}
    x = photo()
    with torch.inference_mode():
        y, expected = run(x), net(x)
    assert (y - expected).abs().max().item() < 0.05
    assert not torch.equal(y, expected)
    irs = sorted(cache.glob("*.xml"))
    quantized = [p for p in irs if "FakeQuantize" in p.read_text()]
    assert len(irs) == 2 and len(quantized) == 1  # the fp32 conversion and its int8 form
    figure = json.loads(quantized[0].with_suffix(".json").read_text())["picture_db"]
    assert int8.holds_picture(figure)

    def no_quantization(*args, **kwargs):
        raise AssertionError("quantized again despite the cache")

    import nncf

    monkeypatch.setattr(nncf, "quantize", no_quantization)
    again, _ = accelerate(net, CPU, precision="int8", rgb_scale=1.0)
    with torch.inference_mode():
        assert torch.equal(again(x), y)
    assert again._runtime.picture_db == figure


def test_the_teachers_input_range_is_calibrated_in_its_own_scale(cache):
    net = tiny()
    teacher = TinyStyle(*[m for m in net])  # the same layers on 0..255 input
    teacher[0] = torch.nn.Conv2d(3, 16, 3, padding=1)
    with torch.no_grad():
        teacher[0].weight.copy_(net[0].weight / 255)
        teacher[0].bias.copy_(net[0].bias)
    run, _ = accelerate(teacher, CPU, precision="int8", rgb_scale=255.0)
    x = photo()
    with torch.inference_mode():
        assert (run(x * 255) - teacher(x * 255)).abs().max().item() < 0.05
    assert int8.holds_picture(run._runtime.picture_db)


def test_below_the_bar_asked_for_is_said_once_with_the_figure(cache, monkeypatch, caplog):
    monkeypatch.setattr(int8, "PICTURE_BAR_DB", 200.0)  # no int8 picture is that close
    run, _ = accelerate(tiny(), CPU, precision="int8", rgb_scale=1.0, name="tiny")
    with caplog.at_level(logging.WARNING, logger="livefx.accel"):
        run(photo())
        run(photo())
    said = [r.getMessage() for r in caplog.records if "picture bar" in r.getMessage()]
    assert len(said) == 1 and "under the 201 dB it needs to hold the 200 dB picture bar" in said[0]
    assert said[0].startswith(f"int8: tiny holds {run._runtime.picture_db:.1f} dB PSNR of fp32")


def test_auto_measures_int8_only_without_bf16_and_only_where_it_holds(cache, monkeypatch, caplog):
    monkeypatch.setattr(ovr, "cpu_has_bf16", lambda: False)
    monkeypatch.setattr(ovr, "cpu_has_int8", lambda: True)
    x = photo()

    def measured(**kwargs):
        choice, _ = accelerate(tiny(), CPU, **kwargs)
        for _ in range(9):  # each candidate: 1 untimed + 2 timed calls, in turns
            choice(x)
        assert choice.chosen is not None
        return choice.report.describe()

    assert "openvino int8" in measured(rgb_scale=1.0)
    assert "openvino int8" not in measured()  # not an RGB network: nothing to calibrate on
    assert "openvino int8" not in measured(rgb_scale=1.0, exact=True)
    assert "openvino int8" not in measured(rgb_scale=1.0, precision="fp32")
    monkeypatch.setattr(int8, "PICTURE_BAR_DB", 200.0)
    with caplog.at_level(logging.WARNING, logger="livefx.accel"):
        assert "openvino int8" not in measured(rgb_scale=1.0)
    assert "openvino int8 failed (int8: TinyStyle holds" in caplog.text
    monkeypatch.setattr(ovr, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(int8, "PICTURE_BAR_DB", 0.0)  # would hold: bf16 is still preferred
    _, report = accelerate(tiny(), CPU, rgb_scale=1.0)
    assert report.dtype == "bfloat16" and "int8" not in report.describe()


def test_int8_for_a_model_it_cannot_calibrate_runs_fp32(cache):
    run, report = accelerate(tiny(), CPU, precision="int8", backend="openvino")  # no rgb_scale
    assert report.engine_entry() == {"backend": "openvino", "precision": "fp32"}
    x = photo()
    with torch.inference_mode():
        assert (run(x) - tiny()(x)).abs().max().item() < 1e-4


def test_an_output_of_the_wrong_shape_fails_the_picture_check():
    # Seen with OpenVINO told to use bf16 on an ISA without it: an empty output, not an error.
    def reference(x):
        return x

    assert int8.picture_db(reference, lambda x: x[..., :0], 1.0) == float("-inf")
    assert not int8.holds_picture(int8.picture_db(reference, lambda x: x[..., :0], 1.0))
    assert int8.picture_db(reference, reference, 1.0) > 100


def test_the_ends_and_the_residual_streams_writer_stay_in_floating_point():
    def conv(path: str) -> str:
        return f"__module.{path}/aten::_convolution/Convolution"

    student = [conv(p) for p in ("enc1", "conv3.project", "conv3.core", "conv3.expand", "res.0.conv1.core", "dec3")]
    assert int8.kept_convolutions(student) == sorted([student[0], student[3], student[-1]])
    teacher = [conv(p) for p in ("conv1.conv2d", "conv2.conv2d", "conv3.conv2d", "res1.conv1.conv2d", "deconv3.conv2d")]
    assert int8.kept_convolutions(teacher) == sorted([teacher[0], teacher[2], teacher[-1]])
    tiny_net = [conv("0"), conv("3"), conv("5")]  # no residual stream: the ends only
    assert int8.kept_convolutions(tiny_net) == [tiny_net[0], tiny_net[-1]]
    assert int8.kept_convolutions([]) == []


@pytest.mark.parametrize("vnni", [True, False])
def test_weights_take_seven_bits_only_where_the_cpu_lacks_vnni_and_the_cache_tells_them_apart(cache, monkeypatch, vnni):
    import nncf

    monkeypatch.setattr(int8, "cpu_has_vnni", lambda: vnni)
    real, asked = nncf.quantize, []

    def spy(*args, **kwargs):
        asked.append(kwargs["advanced_parameters"].overflow_fix)
        return real(*args, **kwargs)

    monkeypatch.setattr(nncf, "quantize", spy)
    run, _ = accelerate(tiny(), CPU, precision="int8", rgb_scale=1.0)
    run(photo())
    assert asked == [nncf.OverflowFix.FIRST_LAYER if vnni else nncf.OverflowFix.ENABLE]
    assert ("-w7-" in int8.recipe_key()) is not vnni


def test_auto_without_nncf_on_a_cpu_without_bf16_says_once_what_int8_would_give(cache, monkeypatch, caplog):
    monkeypatch.setattr(ovr, "cpu_has_bf16", lambda: False)
    monkeypatch.setattr(ovr, "cpu_has_int8", lambda: True)
    monkeypatch.setattr(int8, "nncf_problem", lambda: "needs NNCF, which is not installed")
    with caplog.at_level(logging.INFO, logger="livefx.accel"):
        for _ in range(2):
            choice, _ = accelerate(tiny(), CPU, rgb_scale=1.0)
            assert all(name != "openvino int8" for name, *_ in choice._candidates)
    said = [r.getMessage() for r in caplog.records if "livefx[int8]" in r.getMessage()]
    assert len(said) == 1 and "1.4-1.7x faster" in said[0]
