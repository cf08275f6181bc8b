"""The web client in a real browser: headless Chromium with a fake camera, against livefx serve."""

import asyncio
import contextlib
import os
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest
import torch

from livefx.stream.device import FrameConverter
from livefx.stream.server.app import LivefxServer
from livefx.stream.server.session import SessionSettings

from ..stream.test_switching import student_file
from .cdp import Browser, find_chromium

ARTIFACTS = Path(os.environ.get("LIVEFX_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it")
    return path


@contextlib.contextmanager
def serving(srv: LivefxServer):
    """Run ``srv`` on its own event loop in a thread for the duration of the block."""
    loop = asyncio.new_event_loop()
    ready, stop = asyncio.Event(), asyncio.Event()
    thread = threading.Thread(target=lambda: loop.run_until_complete(srv.serve(ready, stop)), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not ready.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield srv
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)


def settings(style=None) -> SessionSettings:
    cpu = FrameConverter(torch.device("cpu"), torch.float32)
    return SessionSettings(cpu, style, budget_ms=1000, size=(320, 240), backend="eager", metrics_every_s=0.25)


@pytest.fixture
def server(tmp_path):
    with serving(LivefxServer(settings(student_file(tmp_path / "style.safetensors", 5)), port=0)) as srv:
        yield srv


def y4m_from_clip(clip: Path, out: Path, frames: int = 60) -> Path:
    """A 320x240 y4m (4:2:0, as Chromium's fake capture reads it) made from a real clip."""
    with av.open(str(clip)) as src, av.open(str(out), "w", format="yuv4mpegpipe") as dst:
        stream = dst.add_stream("rawvideo", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i >= frames:
                break
            for packet in stream.encode(frame.reformat(320, 240, "yuv420p")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return out


def run_page(browser, url: str, shot: Path) -> dict:
    """Open the page, press Start, wait for decoded frames, keep a screenshot; closes ``browser``."""
    try:
        return _drive(browser, url, shot)
    finally:
        browser.close()


def start_connected(browser, url: str, resolution: str = "320x240") -> None:
    """Open the page, pick ``resolution``, press Start and wait until it is connected."""
    browser.goto(url)
    browser.evaluate(f"document.getElementById('resolution').value = '{resolution}'")
    browser.evaluate("window.livefx.start()")
    deadline = time.monotonic() + 60
    while browser.evaluate("window.livefx.state") != "connected":
        assert browser.evaluate("window.livefx.state") != "failed", browser.evaluate(
            "document.getElementById('error').textContent"
        )
        assert time.monotonic() < deadline, "never reached connected"
        time.sleep(0.2)


def degraded_saying(browser, words: str, seconds: float = 30) -> str:
    """The panel's degraded text once it contains ``words`` (fails after ``seconds``)."""
    deadline, text = time.monotonic() + seconds, ""
    while words not in text:
        assert time.monotonic() < deadline, f"the panel never said {words!r}: {text!r}"
        time.sleep(0.25)
        text = browser.evaluate("document.getElementById('degraded').textContent")
    return text


def _drive(browser, url: str, shot: Path) -> dict:
    start_connected(browser, url)
    first = browser.evaluate("window.livefx.stats()")
    deadline = time.monotonic() + 60
    stats = first
    while stats["framesDecoded"] < first["framesDecoded"] + 20:
        assert time.monotonic() < deadline, f"frames stopped: {stats}"
        time.sleep(0.5)
        stats = browser.evaluate("window.livefx.stats()")
    time.sleep(1.0)  # let the stats panel fill for the screenshot
    ARTIFACTS.mkdir(exist_ok=True)
    browser.screenshot(ARTIFACTS / shot)
    return {
        "first": first,
        "last": browser.evaluate("window.livefx.stats()"),
        "marker_frames": browser.evaluate("window.livefx.markerFrames"),
    }


SENT_DEGRADATION = (
    "window.livefx.peer.getSenders().find((s) => s.track && s.track.kind === 'video')"
    ".getParameters().degradationPreference"
)

VIDEO_CODECS = """(async () => {
  const report = await window.livefx.peer.getStats(), codecs = {}, used = {};
  report.forEach((s) => { if (s.type === "codec") codecs[s.id] = s.mimeType; });
  report.forEach((s) => {
    if (s.kind === "video" && ["inbound-rtp", "outbound-rtp"].includes(s.type)) used[s.type] = codecs[s.codecId];
  });
  return used;
})()"""

SET_BUDGET = "(b => { b.value = '%s'; b.dispatchEvent(new Event('change')); })(document.getElementById('budget'))"


def test_page_with_fake_camera_reaches_connected_and_decodes(chromium, server):
    browser = Browser(chromium)
    try:
        result = _drive(browser, server.url("/"), Path("browser-fake-camera.png"))
        # The answer the page applied starts the camera's send at its full size (web/sdp.js).
        assert "x-google-start-bitrate" in browser.evaluate("window.livefx.peer.remoteDescription.sdp")
        # The camera goes at its full size; under pressure the browser drops frames, not pixels.
        assert browser.evaluate(SENT_DEGRADATION) == "maintain-resolution"
        # Both ways in H.264, the cheaper codec on a CPU (web/sdp.js, --codec auto).
        assert browser.evaluate(VIDEO_CODECS) == {"inbound-rtp": "video/H264", "outbound-rtp": "video/H264"}
        # Latency over the budget is degraded on the page, advised in the page's own controls.
        browser.evaluate(SET_BUDGET % 1)
        degraded = degraded_saying(browser, "over the 1 ms Budget")
    finally:
        browser.close()
    assert result["last"]["framesDecoded"] > result["first"]["framesDecoded"] >= 0
    # Capture-to-display measured from frame codes that made the whole round trip.
    assert result["marker_frames"] >= 5
    assert result["last"]["latencySource"] == "marker"
    assert 0 < result["last"]["latencyMs"] < 5000
    # Frames shown with a code of their own: some, never more than were decoded.
    assert 0 < result["last"]["distinctFrames"] <= result["last"]["framesDecoded"]
    assert "--" not in degraded.split(" · ")[0]  # the page's reason names no CLI flag
    assert (ARTIFACTS / "browser-fake-camera.png").stat().st_size > 10_000


def test_the_panel_says_when_the_browser_sends_the_camera_shrunk(chromium, server):
    """The sender told to halve the camera (as a short bandwidth estimate makes it do): the
    server gets 320x240 of the 640x480 camera, and the page's degraded reasons say so."""
    browser = Browser(chromium)
    try:
        start_connected(browser, server.url("/"), "640x480")
        browser.evaluate(
            """(async () => {
              const sender = window.livefx.peer.getSenders().find((s) => s.track && s.track.kind === "video");
              const p = sender.getParameters();
              p.encodings[0].scaleResolutionDownBy = 2;
              await sender.setParameters(p);
            })()"""
        )
        degraded_saying(browser, "sends the camera at 320x240 of its 640x480", seconds=60)
    finally:
        browser.close()


def test_page_with_a_real_clip_as_camera(chromium, server, real_clip, tmp_path):
    y4m = y4m_from_clip(real_clip, tmp_path / "clip.y4m")
    browser = Browser(chromium, [f"--use-file-for-fake-video-capture={y4m}"])
    result = run_page(browser, server.url("/"), Path("browser-real-clip.png"))
    assert result["last"]["framesDecoded"] > result["first"]["framesDecoded"]


def test_page_watches_a_broadcast(chromium):
    from livefx.stream.sources.synthetic import SyntheticSource

    with serving(LivefxServer(settings(), port=0, source=SyntheticSource(320, 240, fps=30))) as srv:
        result = run_page(Browser(chromium), srv.url("/"), Path("browser-broadcast.png"))
    assert result["last"]["framesDecoded"] > result["first"]["framesDecoded"]


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_remote_mode_page_opened_from_the_printed_url_runs_its_scripts(chromium, tmp_path, https):
    """``serve --host 0.0.0.0 --token T [--https]``: only the page URL carries the token; the
    page's scripts, styles and websocket get in with the cookie it sets (loopback traffic only;
    over HTTPS the browser is told to accept the self-signed certificate, as a user would)."""
    from livefx.stream.server.tls import self_signed, server_context

    tls = server_context(*self_signed(tmp_path / "tls", ["0.0.0.0"])) if https else None
    style = student_file(tmp_path / "style.safetensors", 5)
    srv = LivefxServer(settings(style), host="0.0.0.0", port=0, token="T0k", tls=tls)
    with serving(srv):
        printed = srv.urls("/")
        assert "0.0.0.0" not in " ".join(printed) and printed[0].endswith("/?token=T0k")
        assert printed[0].startswith("https://" if https else "http://")
        browser = Browser(chromium, ["--ignore-certificate-errors"] if https else [])
        result = run_page(browser, printed[0], Path(f"browser-remote-{'https' if https else 'http'}.png"))
    assert result["last"]["framesDecoded"] > result["first"]["framesDecoded"]


def test_the_stream_keeps_going_with_another_tab_in_front(chromium, server):
    """OBS and video calls keep the page in a background tab: frames must keep flowing."""
    browser = Browser(chromium)
    try:
        _drive(browser, server.url("/"), Path("browser-before-hiding.png"))
        other = browser.call("Target.createTarget", url="about:blank")["targetId"]
        browser.call("Target.activateTarget", targetId=other)
        deadline = time.monotonic() + 10
        while browser.evaluate("document.visibilityState") != "hidden":
            assert time.monotonic() < deadline, "the page never went to the background"
            time.sleep(0.2)
        hidden_at, before = time.monotonic(), browser.evaluate("window.livefx.stats()")["framesDecoded"]
        # Before the fix a hidden page sent about one frame in 5 s (0.2 fps): 20 frames would
        # take 100 s. Now they arrive at the stream's rate; the deadline leaves room for a busy machine.
        after = before
        while after < before + 20 or time.monotonic() < hidden_at + 5:
            assert time.monotonic() < hidden_at + 60, f"frames stalled while hidden: {before} -> {after}"
            time.sleep(0.5)
            after = browser.evaluate("window.livefx.stats()")["framesDecoded"]
        assert browser.evaluate("document.visibilityState") == "hidden"
        assert browser.evaluate("window.livefx.state") == "connected"
        assert browser.evaluate("window.livefx.stats()")["latencySource"] != "marker"  # no codes while hidden
    finally:
        browser.close()


SNAPSHOT_AND_RECORDING = """(async () => {
  const head = async (blob, n) => Array.from(new Uint8Array(await blob.slice(0, n).arrayBuffer()));
  const png = await window.livefx.snapshot();
  window.livefx.startRecording();
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const webm = await window.livefx.stopRecording();
  const image = await createImageBitmap(png);
  return { png: await head(png, 8), width: image.width, height: image.height,
           webm: await head(webm, 4), webmBytes: webm.size };
})()"""


def test_snapshot_and_recording_of_the_processed_stream(chromium, server):
    browser = Browser(chromium)
    try:
        _drive(browser, server.url("/"), Path("browser-snapshot.png"))
        got = browser.evaluate(SNAPSHOT_AND_RECORDING)
        browser.evaluate("document.getElementById('mirror').click()")
        mirrored = browser.evaluate("getComputedStyle(document.getElementById('remote')).transform")
    finally:
        browser.close()
    assert bytes(got["png"]) == b"\x89PNG\r\n\x1a\n" and (got["width"], got["height"]) == (320, 240)
    assert bytes(got["webm"]) == b"\x1a\x45\xdf\xa3" and got["webmBytes"] > 1000  # an EBML (WebM) file
    assert mirrored.startswith("matrix(-1")  # the preview is mirrored, the stream is not


def test_page_in_firefox(server):
    from .marionette import Firefox, find_firefox

    executable = find_firefox()
    if executable is None:
        pytest.skip("Firefox is not installed (apt-get install firefox-esr)")
    result = run_page(Firefox(executable), server.url("/"), Path("browser-firefox.png"))
    assert result["last"]["framesDecoded"] > result["first"]["framesDecoded"]
    assert result["marker_frames"] >= 5 and result["last"]["latencySource"] == "marker"


def test_the_page_changes_a_diffusion_prompt_live(chromium, tiny_sd):
    from livefx.models.diffusion.stage import DiffusionOptions
    from livefx.stream.stages.style import load_style

    pytest.importorskip("diffusers", reason="diffusion styles need diffusers: pip install 'livefx[diffusion]'")
    cpu = FrameConverter(torch.device("cpu"), torch.float32)
    style = load_style(f"sd:{tiny_sd[0]}", cpu, DiffusionOptions(prompt="the red fox", steps=(2, 1)))
    browser = Browser(chromium)
    with serving(LivefxServer(settings(style), port=0)) as srv:
        try:
            _drive(browser, srv.url("/"), Path("browser-diffusion.png"))
            assert browser.evaluate("document.getElementById('prompt-form').hidden") is False
            assert browser.evaluate("document.getElementById('prompt').value") == "the red fox"
            browser.evaluate(
                "document.getElementById('prompt').value = 'a blue whale';"
                "document.getElementById('strength').value = '0.8';"
                "document.getElementById('prompt-form').requestSubmit()"
            )
            (session,) = srv.sessions
            deadline = time.monotonic() + 60
            while (session.pipeline.snapshot().get("diffusion") or {}).get("prompt") != "a blue whale":
                assert time.monotonic() < deadline, "the prompt never reached the stream"
                time.sleep(0.2)
            assert session.pipeline.snapshot()["diffusion"]["strength"] == 0.8
            # The panel counts frames per denoising step count.
            while "frames" not in browser.evaluate("document.getElementById('steps').textContent"):
                assert time.monotonic() < deadline, "the steps panel stayed empty"
                time.sleep(0.2)
        finally:
            browser.close()


def still_y4m(clip: Path, out: Path, frames: int = 10) -> Path:
    """A 320x240 y4m of one real picture held still: a camera whose every frame is the same,
    so what comes back can be compared with what the page shows of its camera at any moment."""
    with av.open(str(clip)) as src:
        picture = next(src.decode(video=0)).reformat(320, 240, "yuv420p")
    with av.open(str(out), "w", format="yuv4mpegpipe") as dst:
        stream = dst.add_stream("rawvideo", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for _ in range(frames):
            for packet in stream.encode(picture):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return out


SET_MIX = "(m => { m.value = '%s'; m.dispatchEvent(new Event('change')); })(document.getElementById('mix'))"

# Mean absolute difference (0-255) between the processed picture (the page's own snapshot,
# band cut off) and the camera's picture as the page shows it, mirrored first when asked.
PICTURE_VS_CAMERA = """(async (mirrored) => {
  const processed = await createImageBitmap(await window.livefx.snapshot());
  const w = processed.width, h = processed.height;
  const ctx = new OffscreenCanvas(w, h).getContext("2d", { willReadFrequently: true });
  ctx.drawImage(processed, 0, 0);
  const a = ctx.getImageData(0, 0, w, h).data;
  if (mirrored) { ctx.translate(w, 0); ctx.scale(-1, 1); }
  ctx.drawImage(document.getElementById("local"), 0, 0, w, h);
  const b = ctx.getImageData(0, 0, w, h).data;
  let sum = 0;
  for (let i = 0; i < a.length; i += 4) {
    sum += Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]) + Math.abs(a[i + 2] - b[i + 2]);
  }
  return sum / (3 * w * h);
})(%s)"""


def test_the_mix_slider_at_0_brings_the_camera_back_and_mirror_output_flips_it(chromium, server, real_clip, tmp_path):
    camera = still_y4m(real_clip, tmp_path / "still.y4m")
    browser = Browser(chromium, [f"--use-file-for-fake-video-capture={camera}"])

    def settle(what: str, done) -> float:
        """The picture's distance once ``done(distance)`` holds (new frames take a moment to come back)."""
        deadline = time.monotonic() + 60
        while not done(distance := browser.evaluate(PICTURE_VS_CAMERA % str(what == "mirrored").lower())):
            assert time.monotonic() < deadline, f"{what}: the picture stayed {distance:.1f} from the camera"
            time.sleep(0.5)
        return distance

    try:
        _drive(browser, server.url("/"), Path("browser-mix.png"))
        (session,) = server.sessions
        styled = browser.evaluate(PICTURE_VS_CAMERA % "false")
        assert styled > 20  # the style changes the picture
        browser.evaluate(SET_MIX % 0)
        assert browser.evaluate("document.getElementById('mix-value').textContent") == "0%"
        raw = settle("mix 0", lambda d: d < 15)  # the camera's picture, through two video codecs
        assert session.pipeline.snapshot()["output"]["mix"] == 0.0
        browser.evaluate("document.getElementById('mirror-output').click()")
        flipped = settle("mirrored", lambda d: d < 15)
        assert session.pipeline.snapshot()["output"]["mirror"] is True
        unflipped = browser.evaluate(PICTURE_VS_CAMERA % "false")
        assert unflipped > 2 * flipped  # mirrored, not the camera as it is
    finally:
        browser.close()
    assert raw < styled / 3
