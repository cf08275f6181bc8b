"""Library errors reach the user as one short, whole clause: no escape codes, no cut words."""

import pytest
import torch

from livefx.models.errors import WeightsError, one_line
from livefx.models.weights import load_tensors


def test_one_line_strips_escape_codes_and_cuts_at_a_word():
    exc = RuntimeError("\x1b[1mbold\x1b[0m start of a long story " + "word " * 60 + "\nsecond line")
    line = one_line(exc, limit=60)
    assert "\x1b" not in line and line.startswith("bold start") and line.endswith(" ...")
    assert len(line) <= 64 and line[:-4].split()[-1] in ("word", "story")
    assert one_line(ValueError()) == "ValueError"


class Pickled:
    pass


def test_a_checkpoint_with_python_objects_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"w": torch.zeros(1), "extra": Pickled()}, path)
    with pytest.raises(WeightsError) as err:
        load_tensors(path, expected="a style")
    message = str(err.value)
    assert "stores Python objects" in message and "Pickled" in message and "never unpickles" in message
    assert "\x1b" not in message and "weights_only" not in message


def test_random_bytes_are_not_a_checkpoint(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(WeightsError, match="not a readable weights file") as err:
        load_tensors(path, expected="a style")
    assert "\x1b" not in str(err.value) and "..." not in str(err.value).split("(")[1].split(")")[0][-5:]
