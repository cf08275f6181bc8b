"""IFNet: the published v4.6 layout, checkpoint loading, padding, timesteps, and the
trained default on motion it has never seen."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from livefx.models.errors import WeightsError
from livefx.models.registry import DEFAULT_RIFE
from livefx.models.rife import IFNet, IFNetConfig, load_ifnet, pad_to_multiple, warp
from livefx.models.rife.ifnet import V4_22, V4_22_LITE, V4_25, V4_25_HEAVY, V4_25_LITE, V4_26_HEAVY
from livefx.models.rife.sharp_warp import sharp_warp
from livefx.models.rife.stage import FlowStage, blend_with
from livefx.models.train.data import skimage_image

CPU = torch.device("cpu")
TINY = IFNetConfig(channels=(16, 12, 8, 8))


def test_v4_6_layout_matches_the_published_state_dict():
    sd = IFNet().state_dict()
    assert 5_200_000 < sum(v.numel() for v in sd.values()) < 5_400_000  # "about 5.3 M parameters"
    assert sd["block0.conv0.0.0.weight"].shape == (96, 7, 3, 3)  # frames 0 and 1 and t
    assert sd["block0.conv0.1.0.weight"].shape == (192, 96, 3, 3)
    assert sd["block1.conv0.0.0.weight"].shape == (64, 12, 3, 3)  # + mask and 4 flow channels
    assert sd["block3.convblock.7.conv.weight"].shape == (64, 64, 3, 3)
    assert sd["block2.convblock.0.beta"].shape == (1, 96, 1, 1)
    assert sd["block0.lastconv.0.weight"].shape == (192, 24, 4, 4)  # ConvTranspose: in, out
    prefixes = {k.split(".")[0] for k in sd}
    assert prefixes == {"block0", "block1", "block2", "block3"}
    assert sum(k.startswith("block1.convblock.") and k.endswith(".beta") for k in sd) == 8


@pytest.mark.parametrize("prefix", ["", "module."])
def test_loads_a_checkpoint_saved_in_the_official_layout(tmp_path, prefix):
    torch.manual_seed(0)
    net = IFNet().eval()
    path = tmp_path / "flownet.pkl"
    torch.save({prefix + k: v for k, v in net.state_dict().items()}, path)
    loaded = load_ifnet(path)
    assert loaded.config.channels == (192, 128, 96, 64)
    x0, x1 = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x0, x1, 0.5).frame, net(x0, x1, 0.5).frame)


#: Practical-RIFE's later layouts as published (tensor count, parameters, distinctive
#: shapes), from the checkpoints' key names: what a flownet.pkl of each version holds.
PUBLISHED = {
    V4_22: (128, 9_322_416, {"encode.cnn0.weight": (32, 3, 3, 3), "encode.cnn3.weight": (32, 8, 4, 4),
                             "block0.conv0.0.0.weight": (128, 23, 3, 3), "block1.conv0.0.0.weight": (96, 36, 3, 3),
                             "block3.lastconv.0.weight": (48, 52, 4, 4)}),
    V4_22_LITE: (128, 4_866_052, {"encode.cnn3.weight": (16, 4, 4, 4), "block0.conv0.0.0.weight": (96, 15, 3, 3),
                                  "block3.conv0.0.0.weight": (16, 28, 3, 3)}),
    V4_25: (158, 5_664_776, {"encode.cnn0.weight": (16, 3, 3, 3), "encode.cnn3.weight": (16, 4, 4, 4),
                             "block0.conv0.0.0.weight": (96, 15, 3, 3), "block1.conv0.0.0.weight": (64, 28, 3, 3),
                             "block4.conv0.0.0.weight": (16, 28, 3, 3), "block4.lastconv.0.weight": (32, 52, 4, 4),
                             "block4.convblock.7.beta": (1, 32, 1, 1)}),
    V4_25_LITE: (158, 5_622_700, {"block4.conv0.0.0.weight": (12, 28, 3, 3)}),
    V4_25_HEAVY: (158, 21_663_528, {"block0.conv0.0.0.weight": (192, 15, 3, 3)}),
    V4_26_HEAVY: (158, 5_723_156, {"encode.cnn3.weight": (16, 16, 4, 4), "block0.conv0.0.0.weight": (96, 39, 3, 3)}),
}  # fmt: skip


@pytest.mark.parametrize("config", list(PUBLISHED), ids=lambda c: c.version)
def test_later_layouts_match_the_published_state_dicts(config):
    count, params, shapes = PUBLISHED[config]
    sd = IFNet(config).state_dict()
    assert len(sd) == count and sum(v.numel() for v in sd.values()) == params
    assert {k: tuple(sd[k].shape) for k in shapes} == shapes


@pytest.mark.parametrize("config", list(PUBLISHED), ids=lambda c: c.version)
def test_a_published_later_checkpoint_is_recognised_loaded_and_run(tmp_path, config):
    torch.manual_seed(0)
    net = IFNet(config).eval()
    path = tmp_path / "flownet.pkl"
    torch.save({"module." + k: v for k, v in net.state_dict().items()}, path)  # as Practical-RIFE saves it
    loaded = load_ifnet(path)
    assert loaded.config == config
    stage = FlowStage(loaded, CPU, torch.float32, backend="eager")
    a, b = torch.rand(1, 3, 100, 130), torch.rand(1, 3, 100, 130)  # padded to the layout's multiple inside
    r = stage(a, b, 0.5)
    assert r.frame.shape == a.shape and r.flow.shape == (1, 4, 100, 130) and torch.isfinite(r.frame).all()
    x0, _ = pad_to_multiple(a, config.pad_multiple)
    x1, _ = pad_to_multiple(b, config.pad_multiple)
    with torch.no_grad():
        ref = net(x0, x1, 0.5)
    flow, mask = ref.flow[..., :100, :130], ref.mask[..., :100, :130]
    assert torch.allclose(r.flow, flow, atol=1e-5) and torch.allclose(r.mask, mask, atol=1e-6)
    # The frame: the inputs moved by the network's flow with bicubic sampling, mixed by its mask.
    moved = sharp_warp(a, flow[:, :2]) * mask + sharp_warp(b, flow[:, 2:]) * (1 - mask)
    assert torch.allclose(r.frame, moved.clamp(0, 1), atol=1e-5)


def test_bad_checkpoints_are_refused_with_the_reason(tmp_path):
    with pytest.raises(WeightsError, match="no such weights file"):
        load_ifnet(tmp_path / "missing.pkl")
    corrupt = tmp_path / "corrupt.pkl"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="not a readable weights file"):
        load_ifnet(corrupt)
    later = tmp_path / "v4_25.pkl"
    torch.save({"encode.cnn0.weight": torch.zeros(1), **IFNet(TINY).state_dict()}, later)
    with pytest.raises(WeightsError, match="feature head"):
        load_ifnet(later)
    middle = tmp_path / "v4_15.pkl"  # a head, but blocks without feature outputs (4.7-4.20)
    sd = IFNet(V4_25).state_dict()
    sd["block4.lastconv.0.weight"] = torch.zeros(32, 24, 4, 4)
    torch.save(sd, middle)
    with pytest.raises(WeightsError, match="4.7-4.20"):
        load_ifnet(middle)
    truncated = tmp_path / "three.pkl"
    torch.save({k: v for k, v in IFNet(TINY).state_dict().items() if not k.startswith("block3")}, truncated)
    with pytest.raises(WeightsError, match="3 IFBlocks"):
        load_ifnet(truncated)


def test_warp_moves_pixels_by_the_flow():
    img = torch.rand(1, 3, 20, 30)
    flow = torch.zeros(1, 2, 20, 30)
    flow[:, 0] = 3.0  # out(x) = img(x + 3)
    out = warp(img, flow)
    assert torch.allclose(out[..., :-3], img[..., 3:], atol=1e-5)


@pytest.mark.parametrize("size", [(101, 77), (32, 32), (240, 320)])
def test_odd_sizes_are_padded_and_cropped_back(size):
    x = torch.rand(1, 3, *size)
    padded, original = pad_to_multiple(x)
    assert padded.shape[-2] % 32 == 0 and padded.shape[-1] % 32 == 0 and original == size
    r = FlowStage(IFNet(TINY), CPU, torch.float32, backend="eager")(x, x.flip(-1), 0.3)
    assert r.frame.shape == x.shape and r.flow.shape == (1, 4, *size) and r.mask.shape == (1, 1, *size)
    assert 0 <= float(r.frame.min()) and float(r.frame.max()) <= 1


def test_any_timestep_and_a_timestep_per_batch_item():
    torch.manual_seed(0)
    net = IFNet(TINY).eval()
    x0, x1 = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        per_item = net(x0, x1, torch.tensor([0.2, 0.9])).frame
        assert torch.allclose(per_item[:1], net(x0[:1], x1[:1], 0.2).frame, atol=1e-6)
        assert torch.allclose(per_item[1:], net(x0[1:], x1[1:], 0.9).frame, atol=1e-6)
        assert not torch.allclose(per_item[:1], net(x0[:1], x1[:1], 0.7).frame)


def _shifted_views(shift: int, size: int = 160) -> list[np.ndarray]:
    """Three crops of a natural image training never saw, ``shift`` px apart horizontally."""
    img = skimage_image("chelsea")  # held out from all training
    y, x = 60, 80
    return [img[y : y + size, x + k * shift : x + k * shift + size] for k in (0, 1, 2)]


def _tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div(255)[None]


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1 / float(torch.mean((a - b) ** 2)))


@pytest.fixture(scope="module")
def default_stage() -> FlowStage:
    return FlowStage(load_ifnet(DEFAULT_RIFE), CPU, torch.float32, backend="eager")


def test_the_trained_default_recovers_a_known_translation_at_the_midpoint(default_stage):
    f0, middle, f1 = (_tensor(v) for v in _shifted_views(shift=4))  # 8 px between the outer frames
    r = default_stage(f0, f1, 0.5)
    inner = (..., slice(24, -24), slice(24, -24))  # away from the borders that enter the view
    blend = (f0 + f1) / 2
    assert _psnr(r.frame[inner], middle[inner]) > _psnr(blend[inner], middle[inner]) + 6
    # Content moves left by 8 px from frame 0 to frame 1: at t=0.5 it came from 4 px to the
    # right in frame 0 (flow t->0 x = +4) and goes 4 px to the left in frame 1 (t->1 x = -4).
    fx0, fx1 = float(r.flow[0, 0][inner[1:]].median()), float(r.flow[0, 2][inner[1:]].median())
    assert abs(fx0 - 4) < 0.75 and abs(fx1 + 4) < 0.75
    assert abs(float(r.flow[0, 1][inner[1:]].median())) < 0.5


@pytest.mark.parametrize("axis", ["x", "y"])
def test_flow_found_at_half_size_is_returned_in_full_size_pixels(default_stage, axis):
    """The planner's cheaper flow (``scale=0.5``): the same motion, in the caller's pixels,
    along each axis (a 12 px move recovered as about +-6 at the midpoint, not the half-size +-3)."""
    img = skimage_image("chelsea")
    if axis == "x":
        f0, middle, f1 = (_tensor(img[40:200, 60 + k : 260 + k]) for k in (0, 6, 12))  # 200x160
    else:
        f0, middle, f1 = (_tensor(img[20 + k : 170 + k, 60:260]) for k in (0, 6, 12))  # 200x150
    r = default_stage(f0, f1, 0.5, scale=0.5)
    assert r.frame.shape == f0.shape and r.flow.shape[-2:] == f0.shape[-2:] and r.mask.shape[-2:] == f0.shape[-2:]
    inner = (..., slice(24, -24), slice(32, -32))
    along, across = (0, 1) if axis == "x" else (1, 0)
    to0, to1 = (float(r.flow[0, c][inner[1:]].median()) for c in (along, along + 2))
    assert abs(to0 - 6) < 1.5 and abs(to1 + 6) < 1.5
    assert abs(float(r.flow[0, across][inner[1:]].median())) < 0.75
    moved = blend_with(r, f0, f1)
    blend = (f0 + f1) / 2
    assert _psnr(moved[inner], middle[inner]) > _psnr(blend[inner], middle[inner]) + 3


@pytest.mark.parametrize("t", [0.25, 0.75])
def test_the_trained_default_follows_the_timestep(default_stage, t):
    img = skimage_image("chelsea")
    views = {k: _tensor(img[60:220, 80 + k : 240 + k]) for k in (0, 2, 6, 8)}
    f0, f1, truth = views[0], views[8], views[round(8 * t)]  # 8 px of motion; the truth at t
    r = default_stage(f0, f1, t)
    inner = (..., slice(24, -24), slice(24, -24))
    blend = (1 - t) * f0 + t * f1
    assert _psnr(r.frame[inner], truth[inner]) > _psnr(blend[inner], truth[inner]) + 5
    # The fusion mask leans on the nearer frame, and that frame's flow is the right distance.
    if t < 0.5:
        assert float(r.mask.mean()) > 0.75
        assert abs(float(r.flow[0, 0][inner[1:]].median()) - 8 * t) < 0.75
    else:
        assert float(r.mask.mean()) < 0.25
        assert abs(float(r.flow[0, 2][inner[1:]].median()) + 8 * (1 - t)) < 0.75


def _even_refiner(config: IFNetConfig) -> IFNet:
    """A DIS-initialised network whose blocks correct nothing: flow and mask stay as given."""
    net = IFNet(config).eval()
    for block in net.blocks:
        torch.nn.init.zeros_(block.lastconv[0].weight)
        torch.nn.init.zeros_(block.lastconv[0].bias)
    return net


REFINER = IFNetConfig(channels=(12, 8), scales=(2.0, 1.0), flow_init="dis-fast")


def test_a_flow_init_network_refines_the_flow_it_is_given():
    net = _even_refiner(REFINER)
    assert net.block0.conv0[0][0].weight.shape[1] == IFNetConfig().block_inputs(1)  # a later block's inputs
    x0, x1 = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    start = torch.randn(1, 4, 64, 64)
    with torch.no_grad():
        r = net(x0, x1, 0.5, start)
    assert torch.equal(r.flow, start)
    assert torch.allclose(r.frame, (warp(x0, start[:, :2]) + warp(x1, start[:, 2:])) / 2, atol=1e-6)
    with pytest.raises(ValueError, match="needs a starting flow"):
        net(x0, x1, 0.5)
    with pytest.raises(ValueError, match="takes no starting flow"):
        IFNet(TINY)(x0, x1, 0.5, start)
    with pytest.raises(ValueError, match="dis-fast"):
        IFNetConfig(flow_init="raft")


def test_a_flow_init_network_round_trips_through_safetensors(tmp_path):
    from safetensors.torch import save_file

    from livefx.models.rife.load import config_metadata

    torch.manual_seed(0)
    net = IFNet(REFINER).eval()
    path = tmp_path / "refiner.safetensors"
    save_file(net.state_dict(), str(path), metadata=config_metadata(net.config))
    loaded = load_ifnet(path)
    assert loaded.config == net.config
    x0, x1, start = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64), torch.randn(1, 4, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x0, x1, 0.3, start).frame, net(x0, x1, 0.3, start).frame)


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_the_stage_gives_a_flow_init_network_dis_flow_and_no_probe(scale):
    stage = FlowStage(_even_refiner(REFINER), CPU, torch.float32, backend="eager")
    img = skimage_image("chelsea")
    f0, middle, f1 = (_tensor(img[40:200, 60 + k : 260 + k]) for k in (0, 6, 12))  # 12 px between the outer frames
    assert stage.probe_scale(f0, f1, 1.0) == (1.0, None)  # DIS has its own pyramid
    r = stage(f0, f1, 0.5, scale)
    inner = (..., slice(24, -24), slice(32, -32))
    to0, to1 = (float(r.flow[0, c][inner[1:]].median()) for c in (0, 2))
    assert abs(to0 - 6) < 1.0 and abs(to1 + 6) < 1.0  # full-size pixels at either scale
    blend = (f0 + f1) / 2
    assert _psnr(r.frame[inner], middle[inner]) > _psnr(blend[inner], middle[inner]) + 3
