"""web/marker.js in a real browser: the timing band above a camera frame, built on the frame's
own planes (I420, NV12) or drawn on a canvas (any other format or size), carries the code's
cells, an apron repeating the picture's top row, and the picture below, unchanged."""

import pytest

from .cdp import Browser, blank_page_with
from .test_browser_e2e import chromium  # noqa: F401 - a fixture

CODE = 0b1011001110

#: Makes a W x H test frame in ``format`` (luma rising down the rows, chroma varying), marks it
#: with CODE and returns the marked frame's format, size and planes (I420: Y, U, V; NV12: Y, UV).
MARK = """(async (format, W, H) => {
  const M = window.LivefxMarker;
  let frame;
  if (format === "RGBA") {
    const c = new OffscreenCanvas(W, H), ctx = c.getContext("2d");
    ctx.fillStyle = "rgb(200, 40, 40)"; ctx.fillRect(0, 0, W, H);
    frame = new VideoFrame(c, { timestamp: 0 });
  } else {
    const y = new Uint8Array(W * H), chroma = new Uint8Array(W * H / 2);
    for (let r = 0; r < H; r++) y.fill(40 + r, r * W, (r + 1) * W);
    for (let i = 0; i < chroma.length; i++) chroma[i] = 60 + (i % 7);
    const data = new Uint8Array([...y, ...chroma]);
    frame = new VideoFrame(data, { format, codedWidth: W, codedHeight: H, timestamp: 0 });
  }
  const out = await M.marked(frame, CODE_VALUE, W, H);
  frame.close();
  const result = { format: out.format, width: out.codedWidth, height: out.codedHeight };
  if (out.format === "I420" || out.format === "NV12") {
    const buf = new Uint8Array(out.allocationSize());
    await out.copyTo(buf);
    result.bytes = Array.from(buf);
  } else {
    const c = new OffscreenCanvas(out.displayWidth, out.displayHeight), ctx = c.getContext("2d");
    ctx.drawImage(out, 0, 0);
    result.rgba = Array.from(ctx.getImageData(0, 0, c.width, c.height).data);
  }
  out.close();
  return result;
})"""

W, H, BAND, CELL, CODE_H = 256, 32, 16, 16, 8


@pytest.fixture(scope="module")
def page(chromium):  # noqa: F811
    with blank_page_with(chromium, "marker.js") as browser:
        yield browser


def mark(page: Browser, fmt: str) -> dict:
    return page.evaluate("(" + MARK.replace("CODE_VALUE", str(CODE)) + f")({fmt!r}, {W}, {H})")


def cells_wanted() -> list[bool]:
    """White cells, left to right: start guard, the ten bits, the stop guard."""
    return [True, *[bool((CODE >> (9 - i)) & 1) for i in range(10)], False]


@pytest.mark.parametrize("fmt", ["I420", "NV12"])
def test_a_planar_frame_is_marked_on_its_own_planes(page, fmt):
    got = mark(page, fmt)
    assert (got["format"], got["width"], got["height"]) == (fmt, W, H + BAND)
    b = got["bytes"]
    luma = [b[r * W : (r + 1) * W] for r in range(H + BAND)]
    for cell, white in enumerate(cells_wanted()):
        assert {luma[r][cell * CELL + c] for r in range(CODE_H) for c in range(CELL)} == {235 if white else 16}
    assert all(luma[r] == [40] * W for r in range(CODE_H, BAND))  # apron: the picture's top row
    assert all(luma[BAND + r] == [40 + r] * W for r in range(H))  # the picture, unchanged
    chroma = b[W * (H + BAND) :]
    width = W if fmt == "NV12" else W // 2  # bytes per chroma row (of each plane)
    plane = chroma[: width * (H + BAND) // 2]
    picture_first = [60 + (i % 7) for i in range(width)]
    assert plane[: width * CODE_H // 2] == [128] * (width * CODE_H // 2)  # neutral under the code
    assert plane[width * CODE_H // 2 : width * BAND // 2] == picture_first * ((BAND - CODE_H) // 2)
    assert plane[width * BAND // 2 : width * (BAND // 2 + 1)] == picture_first


def test_another_format_is_drawn_with_the_same_band(page):
    got = mark(page, "RGBA")
    assert (got["width"], got["height"]) == (W, H + BAND)
    px = got["rgba"]

    def rgb(x: int, y: int) -> tuple[int, int, int]:
        i = 4 * (y * W + x)
        return px[i], px[i + 1], px[i + 2]

    for cell, white in enumerate(cells_wanted()):
        assert rgb(cell * CELL + CELL // 2, CODE_H // 2) == ((255, 255, 255) if white else (0, 0, 0))
    assert rgb(W // 2, (CODE_H + BAND) // 2) == (200, 40, 40)  # apron
    assert rgb(W // 2, BAND + H // 2) == (200, 40, 40)  # picture
