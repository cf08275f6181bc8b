"""What the pages show a user, in a real browser: the timing band never in the picture nor in
what a user keeps, degraded warnings in the page's own words, a broadcast viewer's controls,
and the OBS overlay on its own."""

import base64
import io
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from livefx.stream.scheduling import degrade
from livefx.stream.server.app import LivefxServer
from livefx.stream.server.bridge import TrackSource

from ..conftest import write_video
from .cdp import Browser
from .test_browser_e2e import _drive, chromium, degraded_saying, serving, settings  # noqa: F401 - chromium is a fixture

REPO = Path(__file__).resolve().parents[2]
#: The camera's one colour (RGB): with no style the processed picture is the same colour, so
#: any band rows or code cells in it stand out.
COLOR = np.array([200, 120, 60])


def flat_y4m(path: Path, frames: int = 25) -> Path:
    """A 320x240 y4m of one colour, for Chromium's fake camera."""
    image = np.empty((240, 320, 3), np.uint8)
    image[:] = COLOR
    with av.open(str(path), "w", format="yuv4mpegpipe") as dst:
        stream = dst.add_stream("rawvideo", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return path


def off_color(rgb: np.ndarray) -> np.ndarray:
    """Per row, the largest distance of a pixel from COLOR (0 for a clean row)."""
    return np.abs(rgb.astype(int) - COLOR).max(axis=2).max(axis=1)


def element_shot(browser: Browser, element_id: str) -> np.ndarray:
    """The element as drawn on screen, RGB."""
    x, y, w, h = browser.evaluate(
        f"(() => {{ const r = document.getElementById('{element_id}').getBoundingClientRect();"
        " return [r.x, r.y, r.width, r.height]; })()"
    )
    clip = {"x": x, "y": y, "width": w, "height": h, "scale": 1}
    png = base64.b64decode(browser.call("Page.captureScreenshot", format="png", clip=clip)["data"])
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


KEPT = """(async () => {
  const b64 = async (blob) => {
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s);
  };
  const record = async () => {
    window.livefx.startRecording();
    await new Promise((resolve) => setTimeout(resolve, 2500));
    return b64(await window.livefx.stopRecording());
  };
  const png = await b64(await window.livefx.snapshot());
  const webm = await record();
  delete window.MediaStreamTrackProcessor;  // the other way (Firefox's): a canvas of the picture
  const webmCanvas = await record();
  return { png, webm, webmCanvas };
})()"""


def webm_frames(data: str) -> list[np.ndarray]:
    with av.open(io.BytesIO(base64.b64decode(data))) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_the_timing_band_stays_out_of_the_picture_and_of_what_the_user_keeps(chromium, tmp_path, monkeypatch):  # noqa: F811
    """The page measures capture -> display with a code in a band above the camera picture:
    the engine gets the picture alone (no code over camera pixels), and the screen, the
    snapshot and both recording paths show the picture alone; the measure still works."""
    engine_saw: list[np.ndarray] = []
    read = TrackSource.read

    def spy(self):
        item = read(self)
        if item is not None:
            engine_saw[:] = [*engine_saw[-9:], item[0].copy()]
        return item

    monkeypatch.setattr(TrackSource, "read", spy)
    camera = flat_y4m(tmp_path / "flat.y4m")
    browser = Browser(chromium, [f"--use-file-for-fake-video-capture={camera}"])
    with serving(LivefxServer(settings(None), port=0)) as srv:
        try:
            result = _drive(browser, srv.url("/"), Path("browser-band-hidden.png"))
            deadline = time.monotonic() + 30
            while browser.evaluate("window.livefx.stats()")["latencySource"] != "marker":
                assert time.monotonic() < deadline, "the frame codes never came back"
                time.sleep(0.25)
            shown = element_shot(browser, "remote")
            kept = browser.evaluate(KEPT)
            controls = browser.evaluate(
                "[document.getElementById('camera-label').hidden, document.getElementById('start').textContent]"
            )
        finally:
            browser.close()
    assert result["marker_frames"] >= 5
    assert controls == [False, "Start"]  # a camera page keeps its camera controls
    # The engine: 320x240 camera pixels, the top-left corner (where the code used to be) included.
    assert engine_saw and all(image.shape == (240, 320, 3) for image in engine_saw)
    assert off_color(engine_saw[-1][:32]).max() < 24
    # On screen: the picture's shape and colour, no band rows, no code cells (top rows included).
    height, width = shown.shape[:2]
    assert abs(width / height - 4 / 3) < 0.03, shown.shape
    assert off_color(shown[1:-1, 1:-1]).max() < 24, off_color(shown)[:12]
    # The snapshot and the recordings (cropped per frame, and the canvas way): the picture only.
    png = cv2.cvtColor(cv2.imdecode(np.frombuffer(base64.b64decode(kept["png"]), np.uint8), 1), cv2.COLOR_BGR2RGB)
    assert png.shape == (240, 320, 3) and off_color(png).max() < 32
    for key in ("webm", "webmCanvas"):
        frames = webm_frames(kept[key])
        assert frames, key
        for frame in frames[len(frames) // 2 :]:
            assert frame.shape == (240, 320, 3), (key, frame.shape)
            assert np.median(off_color(frame)) < 24 and off_color(frame[:16]).max() < 48, key


def test_the_panel_words_every_degraded_warning_in_the_page_controls(chromium, monkeypatch):  # noqa: F811
    """Every kind the server may report degraded shows on the page advising the page's
    controls, never a command-line flag (a kind the page has no wording for loses its flags)."""
    monkeypatch.setitem(degrade.MESSAGES, "future", "a future slowdown (--future-mode x); raise --future-flag")
    monkeypatch.setattr(degrade.DegradeWatch, "active", lambda self: list(degrade.MESSAGES))
    browser = Browser(chromium)
    with serving(LivefxServer(settings(None), port=0)) as srv:
        try:
            _drive(browser, srv.url("/"), Path("browser-degraded-words.png"))
            text = degraded_saying(browser, "a future slowdown")
        finally:
            browser.close()
    assert "--" not in text, text
    for words in (
        "frames pass through unprocessed",  # passthrough
        "processed late at the lowest scale",  # over_budget
        "the last processed frame is shown again",  # repeated
        "runs at reduced resolution",  # scaled
        "in-between frames are held copies",  # held
        "action labels are being deferred",  # deferred
        "raise the Budget, pick a lower Resolution, or pick a lighter Style",
    ):
        assert words in text, (words, text)


def test_a_broadcast_page_shows_viewer_controls_and_plays_without_a_camera(chromium, tmp_path):  # noqa: F811
    """``serve --source file:...``: no camera picker, no resolution, no preview, no camera asked
    for; the page starts watching on its own, and the end of the file is said in plain words."""
    from livefx.stream.sources import make_source

    clip = write_video(tmp_path / "clip.mp4", frames=75, size=(320, 240))
    browser = Browser(chromium)
    browser.call("Page.enable")
    browser.call(
        "Page.addScriptToEvaluateOnNewDocument",
        source="window.cameraAsked = 0; const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);"
        " navigator.mediaDevices.getUserMedia = (c) => { window.cameraAsked++; return gum(c); };",
    )
    srv = LivefxServer(settings(None), port=0, source=make_source(f"file:{clip}", (320, 240), None))
    with serving(srv):
        try:
            browser.goto(srv.url("/"))
            deadline = time.monotonic() + 60
            while browser.evaluate("window.livefx.stats()")["framesDecoded"] < 10:
                assert time.monotonic() < deadline, browser.evaluate("window.livefx.state")
                time.sleep(0.25)
            view = browser.evaluate(
                "(() => { const shown = (id) => document.getElementById(id).offsetParent !== null;"
                " return { camera: shown('camera'), resolution: shown('resolution'), preview: shown('local'),"
                " start: document.getElementById('start').textContent, style: shown('style'),"
                " stop: shown('stop'), cameraAsked: window.cameraAsked, state: window.livefx.state }; })()"
            )
            browser.screenshot(tmp_path / "broadcast.png")
            deadline, ended = time.monotonic() + 60, ""
            while "has ended" not in ended:
                assert time.monotonic() < deadline, "the page never said the file ended"
                time.sleep(0.25)
                ended = browser.evaluate("document.getElementById('error').textContent")
        finally:
            browser.close()
    assert view == {
        "camera": False,
        "resolution": False,
        "preview": False,
        "start": "Watch",
        "style": True,
        "stop": True,
        "cameraAsked": 0,
        "state": "connected",
    }
    assert "--" not in ended and "clip.mp4" in ended


def test_the_overlay_alone_shows_labels_of_a_server_side_source(chromium):  # noqa: F811
    """``livefx serve --source synthetic --actions default``, and nothing but the OBS overlay
    open: a ``.label`` inside ``#labels`` within 30 s."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "livefx.stream", "serve", "--source", "synthetic", "--actions", "default"]
        + ["--port", "0"],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        url = None
        for line in proc.stderr:  # the printed URLs: the page and the overlay
            lines.append(line)
            if "overlay for OBS: " in line:
                url = line.split("overlay for OBS: ")[1].strip().rstrip(")")
                break
        assert url and url.startswith("http") and "/overlay.html" in url, "".join(lines)
        threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
        browser = Browser(chromium)
        try:
            browser.goto(url)
            deadline = time.monotonic() + 30
            while not browser.evaluate("document.querySelectorAll('#labels > .label').length"):
                assert time.monotonic() < deadline, "no label within 30 s:\n" + "".join(lines[-20:])
                time.sleep(0.25)
            label = browser.evaluate("document.querySelector('#labels > .label').textContent")
        finally:
            browser.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert label.endswith("%") and len(label) > 2


def test_the_overlay_alone_shows_a_broadcasts_prompt_and_labels(chromium, tiny_sd):  # noqa: F811
    """A diffusion style on a server-side source: the overlay, the only page open, shows the
    prompt at once and the labels as they come (its #labels > .label elements unchanged)."""
    import torch

    from livefx.models.action import load_action_model
    from livefx.models.diffusion.stage import DiffusionOptions
    from livefx.models.registry import resolve_actions
    from livefx.stream.device import FrameConverter
    from livefx.stream.server.session import SessionSettings
    from livefx.stream.sources.synthetic import SyntheticSource
    from livefx.stream.stages.style import load_style

    pytest.importorskip("diffusers", reason="diffusion styles need diffusers: pip install 'livefx[diffusion]'")
    cpu = FrameConverter(torch.device("cpu"), torch.float32)
    style = load_style(f"sd:{tiny_sd[0]}", cpu, DiffusionOptions(prompt="the red fox", steps=(1,)))
    config = SessionSettings(cpu, style, budget_ms=1000, size=(96, 72), backend="eager", metrics_every_s=0.25)
    config.actions = load_action_model(resolve_actions("default"))
    browser = Browser(chromium)
    with serving(LivefxServer(config, port=0, source=SyntheticSource(96, 72, fps=15))) as srv:
        try:
            browser.goto(srv.url("/overlay.html"))
            deadline = time.monotonic() + 30
            while not browser.evaluate("document.querySelectorAll('#labels > .label').length"):
                assert time.monotonic() < deadline, "no label within 30 s"
                time.sleep(0.25)
            prompt = browser.evaluate("document.getElementById('prompt').textContent")
        finally:
            browser.close()
    assert prompt == "the red fox"


def test_a_page_that_is_not_a_secure_context_says_how_to_get_the_camera(chromium):  # noqa: F811
    """Opened over plain http from another machine (here a name that is not localhost), the
    browser gives no camera at all: the page says to use https, not a TypeError."""
    with serving(LivefxServer(settings(None), port=0)) as srv:
        port = srv.url("/").split(":")[2].split("/")[0]
        browser = Browser(chromium, ["--host-resolver-rules=MAP livefx-elsewhere.test 127.0.0.1"])
        try:
            browser.goto(f"http://livefx-elsewhere.test:{port}/")
            assert browser.evaluate("window.isSecureContext") is False
            browser.evaluate("window.livefx.start()")
            deadline, text = time.monotonic() + 30, ""
            while "https" not in text:
                assert time.monotonic() < deadline, f"no hint: {text!r}"
                time.sleep(0.25)
                text = browser.evaluate("document.getElementById('error').textContent")
        finally:
            browser.close()
    assert "livefx serve --https" in text and "TypeError" not in text
