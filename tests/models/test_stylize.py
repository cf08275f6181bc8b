import hashlib

import pytest
import torch

from livefx.models.errors import WeightsError
from livefx.models.stylize import StyleStage, TransformerNet, load_transformer_net

from ..conftest import TEACHER_NAMES

CPU = torch.device("cpu")


def test_layout_matches_the_published_state_dicts():
    net = TransformerNet()
    keys = net.state_dict().keys()
    assert len(keys) == 62
    assert sum(p.numel() for p in net.parameters()) == 1_679_235
    for key in ["conv1.conv2d.weight", "in1.bias", "res5.in2.weight", "deconv3.conv2d.bias", "in5.weight"]:
        assert key in keys


@pytest.mark.parametrize("name", TEACHER_NAMES)
def test_loads_each_real_teacher(teachers_dir, name):
    path = teachers_dir / f"{name}.pth"
    sums = dict(line.split()[::-1] for line in (teachers_dir / "SHA256SUMS").read_text().splitlines())
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sums[path.name]
    net = load_transformer_net(path)
    stage = StyleStage(net, CPU, torch.float32, name)
    x = torch.rand(1, 3, 64, 80)
    y = stage(x)
    assert y.shape == x.shape and 0.0 <= y.min() and y.max() <= 1.0
    # A real style changes the picture a lot, and differently per style.
    assert (y - x).abs().mean() > 0.05


def test_styles_differ(teachers_dir):
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    outs = [
        StyleStage(load_transformer_net(teachers_dir / f"{n}.pth"), CPU, torch.float32, n)(x)
        for n in ("candy", "mosaic")
    ]
    assert (outs[0] - outs[1]).abs().mean() > 0.05


def test_legacy_running_stats_keys_are_dropped(teachers_dir, tmp_path):
    sd = torch.load(teachers_dir / "udnie.pth", weights_only=True)
    for i in range(1, 6):
        sd[f"in{i}.running_mean"] = torch.zeros(sd[f"in{i}.weight"].shape)
        sd[f"in{i}.running_var"] = torch.ones(sd[f"in{i}.weight"].shape)
    sd["res1.in1.running_mean"] = torch.zeros(128)
    legacy = tmp_path / "legacy.pth"
    torch.save(sd, legacy)
    net = load_transformer_net(legacy)
    ref = load_transformer_net(teachers_dir / "udnie.pth")
    x = torch.rand(1, 3, 32, 32) * 255
    assert torch.equal(net(x), ref(x))


def test_loads_a_fresh_state_dict_and_safetensors(tmp_path):
    from safetensors.torch import save_file

    net = TransformerNet()
    torch.save(net.state_dict(), tmp_path / "a.pth")
    save_file(net.state_dict(), str(tmp_path / "a.safetensors"))
    x = torch.rand(1, 3, 16, 16)
    for name in ("a.pth", "a.safetensors"):
        assert torch.allclose(load_transformer_net(tmp_path / name)(x), net.eval()(x))


def test_odd_sizes_come_back_the_same_size():
    stage = StyleStage(TransformerNet(), CPU, torch.float32, "random-init")
    for h, w in [(47, 63), (1, 1), (2, 5)]:
        assert stage(torch.rand(1, 3, h, w)).shape == (1, 3, h, w)


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="no such weights file"):
        load_transformer_net(tmp_path / "nope.pth")


def test_random_bytes(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(WeightsError, match="junk.pth: not a readable weights file"):
        load_transformer_net(path)


def test_truncated_checkpoint(teachers_dir, tmp_path):
    path = tmp_path / "cut.pth"
    path.write_bytes((teachers_dir / "candy.pth").read_bytes()[:100_000])
    with pytest.raises(WeightsError, match="not a readable weights file"):
        load_transformer_net(path)


def test_pickled_object_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"conv1": object()}, path)  # needs full unpickling: weights_only refuses it
    with pytest.raises(WeightsError, match="not a readable weights file"):
        load_transformer_net(path)


def test_wrong_keys(tmp_path):
    path = tmp_path / "other.pth"
    torch.save(torch.nn.Linear(3, 3).state_dict(), path)
    with pytest.raises(WeightsError, match="keys 62 missing .*2 unexpected"):
        load_transformer_net(path)


def test_wrong_shapes(tmp_path):
    sd = TransformerNet().state_dict()
    sd["conv2.conv2d.weight"] = torch.zeros(64, 32, 5, 5)
    path = tmp_path / "shapes.pth"
    torch.save(sd, path)
    with pytest.raises(
        WeightsError, match=r"conv2.conv2d.weight has shape \(64, 32, 5, 5\), expected \(64, 32, 3, 3\)"
    ):
        load_transformer_net(path)


def write_compact(path, config, seed: int):
    from safetensors.torch import save_file

    from livefx.models.compact import COMPACT_FORMAT, CompactStyleNet

    torch.manual_seed(seed)
    net = CompactStyleNet(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": COMPACT_FORMAT, **config.to_metadata(), "record": "{}"}
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path), metadata=meta)
    return net.eval()


def test_a_style_with_a_light_student_beside_it_runs_either_form(tmp_path):
    from livefx.models.compact import CompactConfig
    from livefx.models.stylize import FULL_FORM, LIGHT_FORM, build_style_stage, light_variant

    full_path, light_path = tmp_path / "ink.safetensors", tmp_path / "light" / "ink.safetensors"
    full = write_compact(full_path, CompactConfig(rank=8, width=12), seed=0)
    assert (
        light_variant(full_path) is None
        and build_style_stage(full_path, CPU, torch.float32, "eager").step_choices == ()
    )
    light = write_compact(light_path, CompactConfig(rank=4, width=8, ends="light"), seed=1)
    assert light_variant(full_path) == light_path
    stage = build_style_stage(full_path, CPU, torch.float32, "eager")
    assert stage.step_choices == (FULL_FORM, LIGHT_FORM) and stage.step_names == ("full", "light")
    x = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        assert torch.allclose(stage(x), full(x).clamp(0, 1), atol=1e-5)
        assert torch.allclose(stage.run_steps(x, FULL_FORM), full(x).clamp(0, 1), atol=1e-5)
        assert torch.allclose(stage.run_steps(x, LIGHT_FORM), light(x).clamp(0, 1), atol=1e-5)
    assert stage.warmup(32, 48, runs=1, steps=LIGHT_FORM) > 0
    assert stage.engine_entries() == {"stylize_light": {"backend": "eager", "precision": "fp32"}}


def test_a_light_student_in_another_pixel_range_is_refused(tmp_path):
    from livefx.models.compact import CompactConfig
    from livefx.models.stylize import build_style_stage

    write_compact(tmp_path / "ink.safetensors", CompactConfig(rank=8, width=12), seed=0)
    (tmp_path / "light").mkdir()
    torch.save(TransformerNet().state_dict(), tmp_path / "light" / "ink.safetensors")
    with pytest.raises(WeightsError):
        build_style_stage(tmp_path / "ink.safetensors", CPU, torch.float32, "eager")
