"""The distillation script end to end, on a handful of frames and steps."""

import json

import pytest
import torch

from livefx.models.student import load_student, read_record
from livefx.models.stylize import StyleStage, load_style
from livefx.models.train.distill_style import main


@pytest.mark.parametrize("hint", ["0", "0.5"])
def test_one_command_trains_a_loadable_student(teachers_dir, tmp_path, hint):
    out = tmp_path / "tiny.safetensors"
    code = main(
        [
            "--teacher",
            str(teachers_dir / "udnie.pth"),
            "--out",
            str(out),
            "--steps",
            "3",
            "--batch",
            "2",
            "--crop",
            "64",
            "--max-frames",
            "2",
            "--eval-frames",
            "2",
            "--seed",
            "3",
            "--hint-weight",
            hint,
        ]
    )
    assert code == 0
    record = read_record(out)
    assert record["teacher"] == "udnie.pth" and record["steps"] == 3 and record["seed"] == 3
    assert record["frames"] == 2 and "psnr_worst" in record and "ssim_mean" in record
    assert record["hint_weight"] == float(hint)
    assert json.loads(out.with_suffix(".json").read_text())["per_frame"][0]["frame"] == "chelsea"
    net, value_range = load_style(out)
    assert value_range == 1.0 and isinstance(net, type(load_student(out)))
    y = StyleStage(net, torch.device("cpu"), torch.float32, "tiny", value_range, "eager")(torch.rand(1, 3, 40, 56))
    assert y.shape == (1, 3, 40, 56)
