"""Post-processing steps: the output's mix and mirror, drawn labels; never on the input."""

import re

import numpy as np
import pytest

from livefx.stream.errors import UsageError
from livefx.stream.frame import Frame
from livefx.stream.scheduling.control import SetLook
from livefx.stream.stages.actions import LabelEvent
from livefx.stream.stages.post import DrawLabels, OutputLook, Processed


def frame(value: int = 10) -> Frame:
    return Frame(seq=0, t_capture=0, pts=0, image=np.full((48, 64, 3), value, np.uint8))


class Latest:
    def __init__(self, event):
        self.latest = event


def test_draw_labels_writes_on_a_copy_of_a_passed_through_frame():
    f = frame(10)
    passed_through = Processed(f.image, [], {})
    step = DrawLabels(Latest(None))
    assert step(f, passed_through).image is f.image  # no labels yet: nothing drawn
    step.actions.latest = LabelEvent(t=1.0, span=(0.5, 1.0), labels=[("waving", 0.9)])
    out = step(f, passed_through)
    assert (f.image == 10).all()  # the input, which the action clips read, is untouched
    changed = np.argwhere((out.image != 10).any(axis=2))
    assert len(changed) > 50 and changed[:, 0].min() > 48 // 2  # text in the bottom-left corner
    assert changed[:, 1].max() < 64


def look_result(image: np.ndarray, between: list[np.ndarray] | None = None) -> Processed:
    return Processed(image, between or [], {})


def ramp(value: int) -> np.ndarray:
    """An image whose columns differ (a mirror shows), offset by ``value``."""
    return (np.arange(64, dtype=np.uint8)[None, :, None] + np.full((48, 64, 3), value, np.uint8)).astype(np.uint8)


def test_the_full_effect_unmirrored_costs_nothing():
    look = OutputLook()
    result = look_result(ramp(100), [ramp(90)])
    assert look(frame(10), result) is result


def test_mix_blends_the_effect_with_the_input_never_writing_into_either():
    f, effect = Frame(0, 0, 0, ramp(10)), ramp(110)
    out = OutputLook(mix=0.5)(f, look_result(effect))
    expected = (f.image.astype(int) + effect.astype(int)) / 2
    assert np.abs(out.image - expected).max() <= 0.5  # the average, rounded
    assert (f.image == ramp(10)).all() and (effect == ramp(110)).all()
    assert OutputLook(mix=0.0)(f, look_result(effect)).image is f.image  # the input itself, no blend


def test_in_between_frames_mix_with_the_input_shown_before_them():
    look = OutputLook(mix=0.0)
    first, second = Frame(0, 0, 0, ramp(10)), Frame(1, 0, 3000, ramp(50))
    assert look(first, look_result(ramp(200))).image is first.image
    out = look(second, look_result(ramp(200), [ramp(150)]))
    assert out.image is second.image and out.between[0] is first.image
    # The first frame with in-betweens (none before it) mixes them with its own input.
    fresh = OutputLook(mix=0.0)(second, look_result(ramp(200), [ramp(150)]))
    assert fresh.between[0] is second.image


def test_mirror_flips_every_output_frame_left_to_right():
    look = OutputLook(mirror=True)
    f = frame(0)
    out = look(f, look_result(ramp(20), [ramp(30)]))
    assert (out.image == ramp(20)[:, ::-1]).all() and (out.between[0] == ramp(30)[:, ::-1]).all()


def test_live_changes_clamp_the_mix_and_effect_off_keeps_it():
    look = OutputLook(mix=0.95)
    look.change(SetLook(mix_by=0.1))
    assert look.mix == 1.0
    look.change(SetLook(mix=0.3))
    look.change(SetLook(mix_by=-0.5))
    assert look.mix == 0.0
    look.change(SetLook(mix=0.4, effect="off"))
    assert look.weight == 0.0 and look.mix == 0.4
    f = Frame(0, 0, 0, ramp(10))
    assert look(f, look_result(ramp(200))).image is f.image
    look.change(SetLook(effect="toggle", mirror="toggle"))
    assert (look.weight, look.mirror) == (0.4, True)
    assert look.settings() == {"mix": 0.4, "effect": True, "mirror": True}


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(mix=1.5), "mix 1.5: must be between 0 and 1"),
        (dict(mix=float("nan")), "mix nan"),
        (dict(mix_by=2.0), "between -1 and +1"),
        (dict(mirror="sideways"), "mirror sideways: expected on, off or toggle"),
    ],
)
def test_bad_look_changes_fail_in_the_senders_thread(change, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        SetLook(**change)


@pytest.fixture(scope="module")
def render(tmp_path_factory, real_clip):
    """``render(*flags)``: frames of the real clip through ``livefx run`` at 320x240, offline,
    into a y4m file, decoded (each set of flags runs once per module)."""
    from ...conftest import read_frames
    from ..cli.test_cli import livefx

    folder, done = tmp_path_factory.mktemp("looks"), {}

    def run(*flags: str) -> np.ndarray:
        # fp32: on a CPU without bf16, auto times int8 against fp32 per run, and two runs that
        # chose differently differ by ~34 dB where these tests compare runs to 45 dB and 1 level.
        if flags not in done:
            out = folder / f"{len(done)}.y4m"
            proc = livefx(
                "run", "--source", f"file:{real_clip}", "--no-realtime", "--size", "320x240", "--frames", "8",
                "--threads", "2", "--precision", "fp32", "--sink", f"file:{out}", *flags,
            )  # fmt: skip
            assert proc.returncode == 0, proc.stderr
            done[flags] = read_frames(out).astype(np.float64)
        return done[flags]

    return run


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def test_mix_0_is_the_input_and_mix_half_lies_halfway_on_real_frames(render):
    raw, effect = render("--style", "none"), render("--mix", "1")
    mix0, half = render("--mix", "0"), render("--mix", "0.5")
    assert raw.shape == effect.shape == mix0.shape == half.shape == (8, 240, 320, 3)
    assert psnr(mix0, raw) >= 38 and psnr(effect, raw) < 20  # the style is on, the mix takes it off
    apart = np.abs(effect - mix0).mean()
    assert np.abs(half - mix0).mean() < apart and np.abs(half - effect).mean() < apart
    # Per pixel, the average of the two ends, up to the rounding of two 4:2:0 round trips.
    error = np.abs(half - (mix0 + effect) / 2)
    assert error.mean() < 1.0 and np.percentile(error, 99) <= 3


def test_mirror_flips_the_output_not_the_input(render):
    # The style sees the unflipped picture: the output is the styled frame, mirrored.
    assert psnr(render("--mirror"), render("--mix", "1")[:, :, ::-1]) >= 45


def test_with_the_effect_at_0_every_interpolated_output_frame_is_an_input_picture(render):
    raw, doubled = render("--style", "none"), render("--mix", "0", "--interpolate")
    assert len(doubled) == 2 * len(raw) - 1
    # Each in-between slot shows the input shown before it: 0 0 1 1 2 2 ...
    for k, picture in enumerate(doubled):
        assert psnr(picture, raw[k // 2]) >= 45, k
