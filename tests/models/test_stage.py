"""The contract every live model shares, and the shared timing and conversion helpers."""

import numpy as np
import pytest
import torch

from livefx.models.errors import UsageError
from livefx.models.frames import image_to_tensor, resolve_device, tensor_to_image
from livefx.models.rife.ifnet import IFNet, IFNetConfig
from livefx.models.rife.stage import FlowStage
from livefx.models.stage import LiveModel, Stage, run_times_ms
from livefx.models.stylize import StyleStage, TransformerNet

CPU = torch.device("cpu")


def test_every_live_model_declares_warmup_and_accel():
    style = StyleStage(TransformerNet(), CPU, torch.float32, "random", backend="eager")
    flow = FlowStage(IFNet(IFNetConfig(channels=(16, 16, 16, 16))), CPU, torch.float32, backend="eager")
    for model in (style, flow):
        assert isinstance(model, LiveModel)
        assert model.accel is not None and "eager" in model.accel.describe()
        assert model.warmup(32, 32, runs=2) > 0
    assert isinstance(Stage, type) and Stage.accel is None  # test stages need no accel
    assert not isinstance(object(), LiveModel)


def test_run_times_are_one_per_call():
    calls = []
    times = run_times_ms(lambda: calls.append(1), CPU, runs=4)
    assert len(times) == 4 == len(calls) and all(t >= 0 for t in times)


def test_images_and_tensors_round_trip_exactly():
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    x = image_to_tensor(image, CPU, torch.float32)
    assert x.shape == (1, 3, 5, 7) and 0 <= x.min() and x.max() <= 1
    assert (tensor_to_image(x) == image).all()


def test_devices_resolve_or_name_the_setting():
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(UsageError, match="tpu: unknown device") as err:
        resolve_device("tpu")
    assert err.value.for_cli().startswith("--device tpu")
