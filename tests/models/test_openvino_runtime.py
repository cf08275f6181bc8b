"""The OpenVINO backend on real weights: same pictures as torch, any size, cached conversion."""

from pathlib import Path

import numpy as np
import pytest
import torch

import livefx.models.openvino_runtime as ovr
from livefx.models.accel import accelerate
from livefx.models.registry import resolve_style
from livefx.models.stylize import TransformerNet, load_style

pytestmark = pytest.mark.skipif(ovr.openvino_problem() is not None, reason=str(ovr.openvino_problem()))
CPU = torch.device("cpu")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("LIVEFX_CACHE_DIR", str(tmp_path))
    return tmp_path / "openvino"


def photo(width: int = 320, height: int = 240) -> torch.Tensor:
    """A real photo (scikit-image's astronaut), 1 x 3 x H x W in [0, 1]."""
    import cv2
    from skimage import data

    image = cv2.resize(data.astronaut(), (width, height), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = torch.mean((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).item()
    return 10 * np.log10(1 / max(mse, 1e-12))


def test_fp32_matches_torch_on_the_default_style_at_two_sizes(cache):
    net, _ = load_style(resolve_style("default"))
    run, report = accelerate(net, CPU, backend="openvino", precision="fp32")
    assert report.engine_entry() == {"backend": "openvino", "precision": "fp32"}
    for w, h in ((320, 240), (160, 128)):  # one compiled model: the stream's size may change
        x = photo(w, h)
        with torch.inference_mode():
            assert (run(x) - net(x)).abs().max().item() < 1e-3


def test_auto_precision_on_real_photo_stays_within_32_db_of_fp32_torch(cache):
    net, _ = load_style(resolve_style("default"))
    run, report = accelerate(net, CPU, backend="openvino")
    assert report.engine_entry()["precision"] == ("bf16" if ovr.cpu_has_bf16() else "fp32")
    x = photo()
    with torch.inference_mode():
        assert psnr(run(x), net(x)) >= 32.0


class AnySize(torch.nn.Sequential):
    converts_at_any_size = True


def test_exact_models_get_fp32_under_auto(cache):
    _, report = accelerate(AnySize(torch.nn.Conv2d(3, 3, 1)), CPU, backend="openvino", exact=True)
    assert report.dtype == "float32"


def test_the_teacher_converts_and_holds_at_two_sizes(cache):
    torch.manual_seed(0)
    net = TransformerNet().eval()  # speed and layout do not depend on the weights
    run, _ = accelerate(net, CPU, backend="openvino", precision="fp32")
    for w, h in ((96, 64), (64, 48)):
        x = photo(w, h) * 255
        with torch.inference_mode():
            assert (run(x) - net(x)).abs().max().item() < 0.05  # of a 0-255 range


def test_second_start_reads_the_converted_model_from_the_cache(cache, monkeypatch):
    import openvino as ov

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU())
    x = torch.rand(1, 3, 16, 16)
    first = ovr.OpenVinoModel(net, "fp32", (1,))(x)
    assert len(list((cache / "ir").glob("*.xml"))) == 1

    def no_conversion(*args, **kwargs):
        raise AssertionError("converted again despite the cache")

    monkeypatch.setattr(ov, "convert_model", no_conversion)
    assert torch.equal(ovr.OpenVinoModel(net, "fp32", (1,))(x), first)
    with torch.no_grad():
        net[0].bias += 1  # other weights: another entry
    monkeypatch.undo()
    monkeypatch.setenv("LIVEFX_CACHE_DIR", str(cache.parent))
    ovr.OpenVinoModel(net, "fp32", (1,))(x)
    assert len(list((cache / "ir").glob("*.xml"))) == 2


def test_a_damaged_cache_entry_is_converted_again(cache, caplog):
    net = torch.nn.Conv2d(3, 3, 1)
    x = torch.rand(1, 3, 8, 8)
    expected = ovr.OpenVinoModel(net, "fp32", (1,))(x)
    (xml,) = (cache / "ir").glob("*.xml")
    xml.write_text("<not a model")
    with caplog.at_level("WARNING", logger="livefx.accel"):
        assert torch.allclose(ovr.OpenVinoModel(net, "fp32", (1,))(x), expected)
    assert "unreadable" in caplog.text


def test_thread_counts_are_compiled_up_front_and_chosen_between_calls(cache):
    net = torch.nn.Conv2d(3, 3, 3, padding=1)
    model = ovr.OpenVinoModel(net, "fp32", (1, 2))
    x = torch.rand(1, 3, 16, 16)
    y2 = model(x)
    assert model.set_threads(1) == 1 and torch.allclose(model(x), y2, atol=1e-5)
    assert model.set_threads(8) == 2 and model.set_threads(0) == 1


def test_thread_levels():
    assert ovr.thread_levels(1) == (1,)
    assert ovr.thread_levels(2) == (1, 2)
    assert ovr.thread_levels(16) == (1, 8, 15, 16)


def test_a_blob_compiled_for_fp32_is_never_loaded_for_bf16(cache, tmp_path):
    # OpenVINO 2026.4 names a model's compiled blob the same whatever the precision hint; VideoMAE's
    # blob compiled for f32, loaded with the bf16 hint, gave NaN (one blob folder per precision now).
    from livefx.models.action import load_action_model
    from livefx.models.action.classifier import ClipClassifier

    from .test_action import tiny_videomae

    net = ClipClassifier(load_action_model(tiny_videomae(tmp_path / "m")).model).eval()
    x = torch.rand(1, 4, 3, 32, 32)
    with torch.inference_mode():
        expected = net(x)
        assert torch.allclose(ovr.OpenVinoModel(net, "fp32", (1,))(x), expected, atol=1e-4)
        bf16 = ovr.OpenVinoModel(net, "bf16", (1,))(x)
    assert torch.isfinite(bf16).all() and (bf16 - expected).abs().max().item() < 0.05
    assert sorted(p.name for p in (cache / "compiled").iterdir()) == ["bf16", "fp32"]
