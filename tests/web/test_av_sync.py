"""Issue 33: a file served live keeps its sound in sync, both in the server's recording
(stopped with SIGTERM) and in what the page receives (recorded by the page itself)."""

import base64
import signal
import subprocess
import sys
import threading
import time

from livefx.bench.av_sync import av_offsets, median_abs, write_flash_beep_clip

from ..conftest import REPO
from .cdp import Browser
from .test_browser_e2e import chromium  # noqa: F401 - a fixture

#: The page records what it receives, with its sound, and hands the WebM back as base64.
RECORD_PAGE = """(async () => {
  window.livefx.startRecording();
  await new Promise((resolve) => setTimeout(resolve, %d));
  const webm = await window.livefx.stopRecording();
  const bytes = new Uint8Array(await webm.arrayBuffer());
  let text = "";
  for (let i = 0; i < bytes.length; i += 32768) text += String.fromCharCode(...bytes.subarray(i, i + 32768));
  return { b64: btoa(text), audio: document.getElementById("remote").srcObject.getAudioTracks().length };
})()"""


def serve(*args: str) -> tuple[subprocess.Popen, str, list[str]]:
    """``livefx serve ARGS --port 0``; returns the process, the page's URL and its log lines."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "livefx.stream", "serve", *args, "--port", "0"],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    for line in proc.stderr:
        lines.append(line)
        if "open http" in line:
            url = line.split("open ")[1].split(" in a browser")[0]
            threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
            return proc, url, lines
    proc.wait(10)
    raise AssertionError("serve printed no URL:\n" + "".join(lines))


def page_recording_offsets(browser: Browser, path, record_ms: int) -> list[float]:
    """The page records what it receives for ``record_ms``; its flash/beep offsets (ms)."""
    got = browser.evaluate(RECORD_PAGE % record_ms)
    assert got["audio"] == 1  # the page got the file's sound beside its pictures
    path.write_bytes(base64.b64decode(got["b64"]))
    return av_offsets(path)


def watch(browser: Browser, url: str) -> None:
    """Open the page, start, wait for its first frames and turn its sound on."""
    browser.goto(url)
    browser.evaluate("window.livefx.start()")
    deadline = time.monotonic() + 90
    while (browser.evaluate("window.livefx.stats()") or {}).get("framesDecoded", 0) < 30:
        assert browser.evaluate("window.livefx.state") != "failed"
        assert time.monotonic() < deadline, "no frames on the page"
        time.sleep(0.25)
    # As a viewer would: the sound on first (the page starts holding the picture for it), then Record.
    browser.evaluate("document.getElementById('sound').click()")
    time.sleep(2.0)


def test_a_served_file_keeps_its_sound_in_sync_in_the_recording_and_on_the_page(chromium, tmp_path):  # noqa: F811
    clip, recording, received = tmp_path / "clip.mp4", tmp_path / "rec.mkv", tmp_path / "page.webm"
    # Flashes of three frames: the page's recorder drops frames when Chromium is starved (the
    # suite's other worker beside it), and lost single-frame flashes left too few pairs.
    write_flash_beep_clip(clip, seconds=6.0, flash_frames=3)
    proc, url, lines = serve("--source", f"file:{clip}", "--loop", "--sink", f"file:{recording}", "--style", "none")
    try:
        browser = Browser(chromium)
        try:
            watch(browser, url)
            page_offsets = page_recording_offsets(browser, received, 12000)
            if not in_sync(page_offsets):
                # The page's own recorder, starved by the suite's other worker on two cores, read
                # offsets both ways (e.g. -62 and +156 ms in one recording, mean +13); a stream out
                # of sync reads so in a second recording too.
                print(f"{received.name}, first recording: {page_offsets} ms; recording again")
                page_offsets = page_recording_offsets(browser, received, 12000)
        finally:
            browser.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert proc.returncode in (0, 143), "".join(lines[-20:])
    for path, offsets in ((recording, av_offsets(recording)), (received, page_offsets)):
        print(f"{path.name}: video minus audio {offsets} ms, median |offset| {median_abs(offsets):.1f} ms")
        assert len(offsets) >= 3, f"{path.name}: only {len(offsets)} flash/beep pairs"
        assert in_sync(offsets), f"{path.name}: {offsets}"


def in_sync(offsets: list[float]) -> bool:
    """At least three flash/beep pairs, half of them within 45 ms."""
    return len(offsets) >= 3 and median_abs(offsets) <= 45


def test_serve_records_a_pages_camera_and_microphone(chromium, tmp_path):  # noqa: F811
    """``serve --sink file:rec.mkv`` with the browser source: the page's camera and microphone
    (Chromium's fake devices: a moving picture, a beep every half second) go into the server's
    recording: at least 5 s of video, and sound that is heard."""
    import av
    import numpy as np

    recording = tmp_path / "rec.mkv"
    proc, url, lines = serve("--sink", f"file:{recording}", "--style", "none")
    try:
        browser = Browser(chromium)
        try:
            browser.goto(url)
            browser.evaluate("document.getElementById('resolution').value = '320x240'")
            browser.evaluate("window.livefx.start()")
            deadline = time.monotonic() + 90
            while (browser.evaluate("window.livefx.stats()") or {}).get("framesDecoded", 0) < 200:
                assert browser.evaluate("window.livefx.state") != "failed"
                assert time.monotonic() < deadline, "the page stopped getting frames"
                time.sleep(0.25)
            outputs = browser.evaluate("document.getElementById('outputs').textContent")
        finally:
            browser.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert proc.returncode in (0, 143), "".join(lines[-20:])
    assert "rec.mkv" in outputs and "fed by this page" in outputs, "".join(lines[-30:])
    with av.open(str(recording)) as container:
        video = [float(f.time) for f in container.decode(video=0)]
    with av.open(str(recording)) as container:
        sound = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    assert video[-1] - video[0] >= 5.0, f"{video[-1] - video[0]:.2f} s of video"
    assert len(sound) / 48_000 / 2 >= 4.0  # stereo samples: seconds of sound
    loud = np.abs(sound) > 0.1 * np.abs(sound).max()
    assert np.abs(sound).max() > 0.05 and 0.005 < loud.mean() < 0.5, "no beeps heard"
