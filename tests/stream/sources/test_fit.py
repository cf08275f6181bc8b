"""--size keeps the picture's shape unless told to stretch it."""

import numpy as np
import pytest

from livefx.stream.sources.fit import fit_image


def wide_frame() -> np.ndarray:
    """A 2.35:1 frame: a white disc in the middle of a grey field."""
    image = np.full((136, 320, 3), 128, np.uint8)
    yy, xx = np.mgrid[:136, :320]
    image[(yy - 68) ** 2 + (xx - 160) ** 2 < 40**2] = 255
    return image


def disc_aspect(image: np.ndarray) -> float:
    ys, xs = np.nonzero(image[..., 0] > 200)
    return (xs.max() - xs.min() + 1) / (ys.max() - ys.min() + 1)


def test_pad_letterboxes_and_keeps_circles_round():
    out = fit_image(wide_frame(), (320, 240), "pad")
    assert out.shape == (240, 320, 3)
    assert not out[:40].any() and not out[-40:].any()  # black bars above and below
    assert disc_aspect(out) == pytest.approx(1.0, abs=0.06)


def test_crop_fills_the_frame_and_keeps_circles_round():
    out = fit_image(wide_frame(), (240, 240), "crop")
    assert out.shape == (240, 240, 3) and (out[0] == 128).all()  # no bars: the sides were cut
    assert disc_aspect(out) == pytest.approx(1.0, abs=0.06)


def test_stretch_distorts_as_asked_and_same_size_is_untouched():
    assert disc_aspect(fit_image(wide_frame(), (320, 240), "stretch")) < 0.7
    frame = wide_frame()
    assert fit_image(frame, (320, 136)) is frame
    with pytest.raises(ValueError, match="use one of pad, crop, stretch"):
        fit_image(frame, (64, 64), "squash")
