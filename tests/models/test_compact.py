"""The compact style network: exact factorisation at full rank, file round trip, loading errors."""

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from livefx.models.compact import (
    COMPACT_FORMAT,
    ENDS,
    CompactConfig,
    CompactStyleNet,
    TuckerConv,
    is_compact_file,
    load_compact,
    read_compact_record,
    teacher_activations,
    teacher_block_statistics,
    teacher_in3_statistics,
)
from livefx.models.errors import WeightsError
from livefx.models.registry import DEFAULT_STYLE, EMBEDDED_STYLES_DIR, resolve_style
from livefx.models.stylize import TransformerNet, load_style, load_transformer_net


def test_tucker_conv_at_full_rank_is_the_original_conv():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 24, 3, stride=2)
    tucker = TuckerConv(16, 24, 3, 2, 16, 24)
    tucker.init_from(conv)
    x = torch.randn(1, 16, 20, 28)
    expected = conv(F.pad(x, (1, 1, 1, 1), mode="reflect"))
    assert torch.allclose(tucker(x), expected, atol=1e-4)


def test_folded_instance_norm_is_the_plain_one():
    torch.manual_seed(0)
    tucker = TuckerConv(16, 40, 3, 1, 8, 12, upsample=True)
    norm = torch.nn.InstanceNorm2d(40, affine=True)
    torch.nn.init.normal_(norm.weight)
    torch.nn.init.normal_(norm.bias)
    x, residual = torch.randn(2, 16, 10, 14) * 3 + 1, torch.randn(2, 40, 20, 28)
    with torch.no_grad():
        plain = norm(tucker(x))
        assert torch.allclose(tucker.forward_normed(x, norm), plain, atol=1e-4)
        assert torch.allclose(tucker.forward_normed(x, norm, residual), plain + residual, atol=1e-4)
    for ends in ENDS:
        net = CompactStyleNet(CompactConfig(rank=8, width=12, ends=ends))
        x = torch.rand(1, 3, 48, 64)
        with torch.no_grad():
            trained_path = net.train()(x)  # plain norms (what training differentiates)
            assert torch.allclose(net.eval()(x), trained_path, atol=1e-5), ends  # folded norms
            assert torch.allclose(net.graph_form()(x), trained_path, atol=1e-5), ends


def test_full_rank_middle_reproduces_the_teachers_middle():
    torch.manual_seed(0)
    teacher = TransformerNet().eval()
    net = CompactStyleNet.from_teacher(teacher, CompactConfig(rank=128, width=16)).eval()
    x = torch.rand(1, 3, 64, 48)
    with torch.no_grad():
        acts = teacher_activations(teacher, x)
        assert torch.allclose(net.middle(acts[0]), acts[-2], atol=1e-3)
        for block, before, after in zip(net.middle_blocks(), acts[:-2], acts[1:-1]):
            assert torch.allclose(block(before), after, atol=1e-3)


def test_each_form_meets_the_teacher_at_its_hint_points():
    teacher = TransformerNet().eval()
    x = torch.rand(1, 3, 64, 48)
    with torch.no_grad():
        acts = teacher_activations(teacher, x)
        for ends in ENDS:
            net = CompactStyleNet.from_teacher(teacher, CompactConfig(rank=8, width=12, ends=ends)).eval()
            first, last = net.hint_points
            h = net.encode(x)
            assert h.shape == acts[first].shape, ends
            assert net.middle(h).shape == acts[last].shape, ends
            assert len(net.middle_blocks()) == last - first, ends


def test_a_slim_student_keeps_the_teachers_residual_stack_and_cores():
    torch.manual_seed(0)
    teacher = TransformerNet().eval()
    net = CompactStyleNet.from_teacher(teacher, CompactConfig(rank=128, width=16, ends="slim")).eval()
    x = torch.rand(1, 3, 64, 48)
    with torch.no_grad():
        acts = teacher_activations(teacher, x)
        first, last = net.hint_points
        assert torch.allclose(net.middle(acts[first]), acts[last], atol=1e-3)
    reference = CompactStyleNet.from_teacher(teacher, CompactConfig(rank=128, width=16))
    # The first projection and the last expansion face the slim ends, so they start untrained:
    assert torch.equal(net.conv3.core.weight, reference.conv3.core.weight)
    assert torch.equal(net.deconv1.core.weight, reference.deconv1.core.weight)
    assert net.conv3.project.in_channels == 16 and net.deconv1.expand.out_channels == 16
    fresh = net.fresh_parameter_names()
    assert "conv3.project.weight" in fresh and "deconv1.expand.bias" in fresh and "res.0.conv1.core.weight" not in fresh


def test_fixed_block_norms_at_one_pictures_statistics_are_the_teachers_blocks():
    # Fixed at the statistics of the one picture they then see, the norms are that picture's
    # instance norms: at full rank the middle is the teacher's exactly.
    torch.manual_seed(0)
    teacher = TransformerNet().eval()
    x = torch.rand(1, 3, 64, 48)
    config = CompactConfig(rank=128, width=16, ends="slim", block_norms="fixed")
    net = CompactStyleNet.from_teacher(teacher, config, teacher_block_statistics(teacher, x)).eval()
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in net.res.modules())
    with torch.no_grad():
        acts = teacher_activations(teacher, x)
        first, last = net.hint_points
        assert torch.allclose(net.middle(acts[first]), acts[last], atol=1e-2 * acts[last].abs().max())
        other = teacher_activations(teacher, torch.rand(1, 3, 64, 48))
        assert not torch.allclose(net.middle(other[first]), other[last], atol=1e-2 * other[last].abs().max())
    assert CompactConfig.from_metadata(config.to_metadata()) == config
    with pytest.raises(ValueError, match="fixed block norms need the teacher's block statistics"):
        CompactStyleNet.from_teacher(teacher, config)
    with pytest.raises(ValueError, match="block norms 'batch'"):
        CompactConfig(block_norms="batch").check()


def test_zero_padding_is_the_cores_own():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 24, 3, stride=2, padding=1)
    tucker = TuckerConv(16, 24, 3, 2, 16, 24, padding="zeros")
    tucker.init_from(conv)
    x = torch.randn(1, 16, 20, 28)
    assert torch.allclose(tucker(x), conv(x), atol=1e-4)
    net = CompactStyleNet(CompactConfig(rank=8, width=12, ends="slim", padding="zeros"))
    assert not any(m.padding_mode == "reflect" for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    assert all(m.pad == 0 for m in net.modules() if isinstance(m, TuckerConv))
    with pytest.raises(ValueError, match="padding 'circular'"):
        CompactConfig(padding="circular").check()


def test_fixed_end_norms_at_one_pictures_statistics_are_its_instance_norms():
    torch.manual_seed(0)
    net = CompactStyleNet(CompactConfig(rank=8, width=12, ends="slim", block_norms="fixed")).eval()
    for name in ("enc_norm", "in3", "dec_norm"):  # not the identity, so that fixing them shows
        torch.nn.init.normal_(getattr(net, name).weight)
        torch.nn.init.normal_(getattr(net, name).bias)
    x, other = torch.rand(1, 3, 48, 64), torch.rand(1, 3, 48, 64) * 0.5
    fixed = net.fix_end_norms(x).eval()
    assert fixed.config.end_norms == "fixed" and net.config.end_norms == "instance"
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in fixed.modules())
    with torch.no_grad():
        assert torch.allclose(fixed(x), net(x), atol=1e-4)
        assert not torch.allclose(fixed(other), net(other), atol=1e-2)
        assert torch.allclose(fixed.graph_form()(x), fixed(x), atol=1e-5)
    assert CompactConfig.from_metadata(fixed.config.to_metadata()) == fixed.config
    with pytest.raises(ValueError, match="needs a slim student with instance end norms"):
        fixed.fix_end_norms(x)
    with pytest.raises(ValueError, match="end norms 'fixed'"):
        CompactConfig(ends="light", end_norms="fixed").check()


def test_fixed_end_norms_from_the_teacher_fold_its_in3_statistics():
    torch.manual_seed(0)
    teacher = TransformerNet().eval()
    x = torch.rand(2, 3, 48, 64)
    config = CompactConfig(rank=128, width=12, ends="slim", end_norms="fixed")
    with pytest.raises(ValueError, match="fixed end norms need the teacher's in3 statistics"):
        CompactStyleNet.from_teacher(teacher, config)
    mean, var = teacher_in3_statistics(teacher, x)
    net = CompactStyleNet.from_teacher(teacher, config, in3_stats=(mean, var)).eval()
    reference = CompactStyleNet.from_teacher(teacher, CompactConfig(rank=128, width=12, ends="slim")).eval()
    # The same core output z gives teacher.in3's affine map at the fixed statistics:
    z = torch.randn(1, 128, 6, 8)
    with torch.no_grad():
        plain = reference.conv3.expand(z)
        expected = (plain - mean[:, None, None]) * torch.rsqrt(var + 1e-5)[:, None, None]
        expected = expected * teacher.in3.weight[:, None, None] + teacher.in3.bias[:, None, None]
        assert torch.allclose(net.conv3.expand(z), expected, atol=1e-3)


def test_low_rank_is_cheaper_and_keeps_shapes():
    net = CompactStyleNet(CompactConfig(rank=16, width=16)).eval()
    with torch.no_grad():
        y = net(torch.rand(2, 3, 40, 56))
    assert y.shape == (2, 3, 40, 56)
    assert sum(p.numel() for p in net.parameters()) < sum(p.numel() for p in TransformerNet().parameters()) / 5


def test_file_round_trip_and_detection(tmp_path):
    net = CompactStyleNet(CompactConfig(rank=8, width=12)).eval()
    path = tmp_path / "s.safetensors"
    meta = {"format": COMPACT_FORMAT, **net.config.to_metadata(), "record": "{}"}
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path), metadata=meta)
    assert is_compact_file(path)
    loaded, value_range = load_style(path)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert value_range == 1.0 and torch.equal(loaded(x), net(x))


def test_bad_files_get_clear_errors(tmp_path):
    corrupt = tmp_path / "c.safetensors"
    corrupt.write_bytes(b"\x00" * 64)
    with pytest.raises(WeightsError, match="not a readable weights file"):
        load_compact(corrupt)
    wrong = tmp_path / "w.safetensors"
    net = CompactStyleNet(CompactConfig(rank=8, width=12))
    save_file(
        {k: v.contiguous() for k, v in net.state_dict().items()},
        str(wrong),
        metadata={"format": COMPACT_FORMAT, "rank": "16", "width": "12"},  # the tensors are rank 8
    )
    with pytest.raises(WeightsError, match="has shape"):
        load_compact(wrong)
    absurd = tmp_path / "a.safetensors"
    save_file({"x": torch.zeros(1)}, str(absurd), metadata={"format": COMPACT_FORMAT, "rank": "999"})
    with pytest.raises(WeightsError, match="bad compact style config"):
        load_compact(absurd)
    with pytest.raises(WeightsError, match="no such weights file"):
        load_compact(tmp_path / "missing.safetensors")


SHIPPED = sorted(EMBEDDED_STYLES_DIR.glob("*.safetensors"))


def test_the_default_style_ships():
    assert resolve_style("default") == EMBEDDED_STYLES_DIR / f"{DEFAULT_STYLE}.safetensors"
    assert resolve_style("default").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_style_loads_by_name_and_its_held_out_score_is_reproduced(path, teachers_dir):
    """The card's score is re-measured against the real teacher on the held-out frames (>= 0.5 to ship)."""
    from livefx.models.train.metrics import style_report
    from livefx.models.train.style_data import held_out_style_frames

    record = read_compact_record(path)
    net, value_range = load_style(resolve_style(path.stem))
    assert value_range == 1.0 and isinstance(net, CompactStyleNet)
    teacher = load_transformer_net(teachers_dir / record["teacher"])
    with torch.no_grad():
        report = style_report(held_out_style_frames(), lambda x: (teacher(x * 255) / 255).clamp(0, 1), lambda x: net(x))
    assert report["score"] >= 0.5
    assert report["score"] == pytest.approx(record["held_out"]["score"], abs=0.01)


def test_graph_form_computes_the_same_function_with_plain_norms():
    torch.manual_seed(0)
    net = CompactStyleNet(CompactConfig(rank=8, width=8)).eval()
    graph = net.graph_form()
    assert all(not getattr(m, "fold_norms", False) for m in graph.modules())
    assert net.fold_norms  # the original keeps its eager form
    x = torch.rand(1, 3, 32, 48)
    with torch.inference_mode():
        assert torch.allclose(graph(x), net(x), atol=1e-4)


LIGHT = sorted((EMBEDDED_STYLES_DIR / "light").glob("*.safetensors"))


@pytest.mark.slow
@pytest.mark.parametrize("path", LIGHT, ids=[p.stem for p in LIGHT])
def test_every_light_student_is_vga_sized_and_beats_its_full_student_at_three_quarter_scale(path, teachers_dir):
    """The rule a light student ships by (styles/CARD.md): <= 2 GMAC at 640x480, its card's score
    re-measured, and above what the planner would run instead, the full student at 0.75 scale."""
    from livefx.models.student import count_macs
    from livefx.models.train.style_card import scaled_score

    record = read_compact_record(path)
    teacher_path = teachers_dir / record["teacher"]
    assert count_macs(load_style(path)[0], 480, 640) <= 2e9
    assert scaled_score(path.parent.parent / path.name, teacher_path, 1.0) > 0.5  # the full student, as shipped
    score = scaled_score(path, teacher_path, 1.0)
    assert score == pytest.approx(record["held_out"]["score"], abs=0.01)
    assert score > scaled_score(path.parent.parent / path.name, teacher_path, 0.75)
