"""The compact students' training loss: both phases reach every part of each form."""

import pytest
import torch

from livefx.models.compact import (
    ENDS,
    CompactConfig,
    CompactStyleNet,
    teacher_activations,
    teacher_block_statistics,
)
from livefx.models.stylize import TransformerNet
from livefx.models.train.distill_compact import step_loss


@pytest.mark.parametrize("ends,block_norms", [(ends, "instance") for ends in ENDS] + [("slim", "fixed")])
@pytest.mark.parametrize("forced", [True, False])
def test_each_phase_trains_every_parameter_of_each_form(ends, block_norms, forced):
    torch.manual_seed(0)
    teacher = TransformerNet().eval()
    x = torch.rand(2, 3, 32, 48)
    config = CompactConfig(rank=8, width=12, ends=ends, block_norms=block_norms)
    student = CompactStyleNet.from_teacher(teacher, config, teacher_block_statistics(teacher, x)).train()
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
