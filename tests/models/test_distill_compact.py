"""The compact students' training loss: both phases reach every part of each form."""

from dataclasses import replace

import pytest
import torch
from safetensors.torch import save_file

from livefx.models.compact import (
    COMPACT_FORMAT,
    ENDS,
    CompactConfig,
    CompactStyleNet,
    teacher_activations,
    teacher_block_statistics,
    teacher_in3_statistics,
)
from livefx.models.stylize import TransformerNet
from livefx.models.train.distill_compact import continued_student, step_loss

FORMS = [dict(ends=ends) for ends in ENDS] + [
    dict(ends="slim", block_norms="fixed"),
    dict(ends="slim", block_norms="fixed", end_norms="fixed", padding="zeros"),
]


@pytest.mark.parametrize("form", FORMS, ids=lambda form: "-".join(form.values()))
@pytest.mark.parametrize("forced", [True, False])
def test_each_phase_trains_every_parameter_of_each_form(form, forced):
    torch.manual_seed(0)
    teacher = TransformerNet().eval()
    x = torch.rand(2, 3, 32, 48)
    config = CompactConfig(rank=8, width=12, **form)
    stats = teacher_block_statistics(teacher, x), teacher_in3_statistics(teacher, x)
    student = CompactStyleNet.from_teacher(teacher, config, *stats).train()
    with torch.no_grad():
        batch = [x, *teacher_activations(teacher, x)]
    loss = step_loss(student, batch, forced=forced, hint=0.02)
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    untouched = [n for n, p in student.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert untouched == []


def test_the_forced_phase_pairs_each_middle_block_with_the_teachers_own():
    torch.manual_seed(0)
    teacher = TransformerNet().eval()
    x = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        batch = [x, *teacher_activations(teacher, x)]
        for ends in ENDS:
            # At full rank the middle is the teacher's: only the ends contribute to the forced loss.
            exact = CompactStyleNet.from_teacher(teacher, CompactConfig(rank=128, width=12, ends=ends)).train()
            first, last = exact.hint_points
            blocks = zip(exact.middle_blocks(), batch[1 + first : 1 + last], batch[2 + first : 2 + last])
            assert all(torch.allclose(block(a), b, atol=1e-3) for block, a, b in blocks), ends


def test_the_teachers_parts_compose_to_the_teacher():
    from livefx.models.train.part_swap import teacher_parts

    torch.manual_seed(0)
    teacher = TransformerNet().eval()
    x = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        whole = teacher(x * 255) / 255
        for ends in ENDS:
            first, last = CompactStyleNet(CompactConfig(rank=8, width=12, ends=ends)).hint_points
            enc, mid, dec = teacher_parts(teacher, first, last)
            assert torch.allclose(dec(mid(enc(x))), whole, atol=1e-4), ends
            assert enc(x).shape == teacher_activations(teacher, x)[first].shape


def test_a_continued_student_may_fix_its_end_norms_and_change_padding(tmp_path):
    torch.manual_seed(0)
    config = CompactConfig(rank=8, width=12, ends="slim", block_norms="fixed")
    start = CompactStyleNet(config).eval()
    path = tmp_path / "start.safetensors"
    save_file(start.state_dict(), str(path), metadata={"format": COMPACT_FORMAT, **config.to_metadata()})
    views = torch.rand(3, 3, 32, 48)
    fixed = replace(config, end_norms="fixed", padding="zeros")
    student = continued_student(path, fixed, views).eval()
    assert student.config == fixed
    same_padding = start.fix_end_norms(views).eval()  # the weights carry over; only padding differs
    assert all(torch.equal(v, same_padding.state_dict()[k]) for k, v in student.state_dict().items())
    assert continued_student(path, config, views).config == config
    with pytest.raises(SystemExit, match="not CompactConfig"):
        continued_student(path, replace(config, rank=10), views)
    fixed_path = tmp_path / "fixed.safetensors"
    save_file(student.state_dict(), str(fixed_path), metadata={"format": COMPACT_FORMAT, **fixed.to_metadata()})
    with pytest.raises(SystemExit, match="cannot become instance norms again"):
        continued_student(fixed_path, config, views)
