"""The page's timing band: cut off on arrival, never seen by the engine, back only on the page's frames."""

import asyncio
import threading
import time

import av
import numpy as np
import pytest
import torch

from livefx.stream.device import FrameConverter
from livefx.stream.frame import Frame
from livefx.stream.pipeline import Pipeline, PipelineConfig
from livefx.stream.server.band import TimingBand
from livefx.stream.server.bridge import TrackSink, TrackSource
from livefx.stream.server.protocol import ProtocolError, parse

BAND = 16


def banded(picture: np.ndarray, code: int) -> np.ndarray:
    """What the page sends: a band of ``BAND`` rows (its first cells hold ``code``) above the picture."""
    band = np.zeros((BAND, picture.shape[1], 3), np.uint8)
    band[:, :16] = 255  # start guard
    band[:, 16:32] = code
    return np.vstack((band, picture))


def frame(seq: int, image: np.ndarray, pts: int | None = None) -> Frame:
    return Frame(seq=seq, t_capture=0, pts=seq * 3000 if pts is None else pts, image=image)


def test_the_band_is_cut_off_and_goes_back_above_the_frames_of_its_input_frame_only():
    band = TimingBand()
    band.declare(320, 240 + BAND, BAND)
    picture = np.full((240, 320, 3), 90, np.uint8)
    assert band.rows_in(320, 240 + BAND) == BAND
    for seq in range(3):
        cut = band.split(seq, banded(picture, 10 * seq + 10), BAND)
        assert cut.shape == (240, 320, 3) and (cut == 90).all()  # the engine sees the picture only
    # Frame 0 was dropped before processing; frame 1 comes out with an in-between frame first.
    between = band.attach(frame(1, np.full((240, 320, 3), 7, np.uint8), pts=1500))
    out = band.attach(frame(1, np.full((240, 320, 3), 9, np.uint8)))
    code = BAND // 2
    for image, fill in ((between, 7), (out, 9)):
        assert image.shape == (240 + BAND, 320, 3)
        assert (image[BAND:] == fill).all()  # the processed picture, untouched
        assert (image[:code, 16:32] == 20).all() and (image[:code, :16] == 255).all()  # frame 1's code
        assert (image[code:BAND] == fill).all()  # the apron repeats the picture's top row
    assert (band.attach(frame(2, picture))[:code, 16:32] == 30).all()


def test_a_frame_sent_without_the_band_is_all_picture_and_goes_back_as_it_is():
    band = TimingBand()
    band.declare(320, 240 + BAND, BAND)
    assert band.rows_in(320, 240) == 0  # a hidden page sends its plain camera
    band.no_band(0)
    picture = np.full((240, 320, 3), 50, np.uint8)
    assert band.attach(frame(0, picture)) is picture
    band.declare(0, 0, 0)  # the band turned off
    assert band.rows_in(320, 240 + BAND) == 0


def test_a_stream_the_encoder_scaled_down_loses_its_band_to_scale_and_gets_it_back_full_height():
    band = TimingBand()
    band.declare(640, 480 + BAND, BAND)
    assert band.rows_in(480, 360 + 12) == 12  # the browser sent 3/4 size
    assert band.rows_in(480, 360) == 0
    received = np.vstack((np.full((12, 480, 3), 200, np.uint8), np.full((360, 480, 3), 60, np.uint8)))
    picture = band.split(0, received, 12, (240, 180))  # and livefx scales it down further
    assert picture.shape == (180, 240, 3) and abs(int(picture.mean()) - 60) <= 1
    out = band.attach(frame(0, picture))
    assert out.shape == (180 + BAND, 240, 3) and (out[: BAND // 2] == 200).all()


def test_a_frame_whose_band_is_gone_gets_a_blank_one_so_the_video_keeps_its_size():
    band = TimingBand(keep=2)
    band.declare(64, 48 + BAND, BAND)
    for seq in range(4):
        band.split(seq, banded(np.zeros((48, 64, 3), np.uint8), 255), BAND)
    out = band.attach(frame(0, np.full((48, 64, 3), 5, np.uint8)))  # frame 0's band was let go
    assert out.shape == (48 + BAND, 64, 3) and (out[: BAND // 2] == 0).all() and (out[BAND // 2 :] == 5).all()


def test_track_source_cuts_the_band_and_reports_the_picture_size():
    band = TimingBand()
    band.declare(320, 240 + BAND, BAND)
    source = TrackSource(band=band)
    source.put(av.VideoFrame.from_ndarray(banded(np.full((240, 320, 3), 128, np.uint8), 100), format="rgb24"))
    image, _ = source.read()
    assert image.shape == (240, 320, 3) and abs(int(image.mean()) - 128) <= 2
    assert source.sent_size == (320, 240) and source.size == (320, 240) and source.scaled_down == 0


def test_through_a_real_pipeline_each_processed_frame_carries_its_own_input_frames_band():
    """The band finds its frame by the capture thread's numbering (Frame.seq): frames dropped
    on the way in, or processed late, never get another frame's code."""
    band = TimingBand()
    band.declare(64, 48 + BAND, BAND)
    source, loop = TrackSource(band=band), asyncio.new_event_loop()
    seen: list[np.ndarray] = []

    class Track:  # what the sink hands frames to (a ProcessedTrack on a real session)
        kind = "video"

        def offer(self, video, *_):
            seen.append(video.to_ndarray(format="rgb24"))

    sink = TrackSink(loop, band=band)
    sink.add(Track())
    threading.Thread(target=loop.run_forever, daemon=True).start()
    cpu = FrameConverter(torch.device("cpu"), torch.float32)
    pipeline = Pipeline(source, [sink], [], cpu, PipelineConfig(budget_ms=1000, size=None, backend="eager"))
    pipeline.warmup(64, 48)
    pipeline.start()
    try:
        for i in range(40):
            picture = np.full((48, 64, 3), 4 * i, np.uint8)  # the picture says which frame it is
            source.put(av.VideoFrame.from_ndarray(banded(picture, 250 - 4 * i), format="rgb24"))
            time.sleep(0.01)
        deadline = time.monotonic() + 30
        while len(seen) < 5:
            assert time.monotonic() < deadline, f"only {len(seen)} frames came out"
            time.sleep(0.05)
    finally:
        source.end()
        pipeline.close()
        loop.call_soon_threadsafe(loop.stop)
    for image in seen:
        assert image.shape == (48 + BAND, 64, 3)
        shown = int(np.median(image[BAND + 8 : -8, 8:-8]))
        code = int(np.median(image[2:6, 20:28]))
        assert abs((250 - shown) - code) <= 6, (shown, code)  # yuv round trip tolerance


@pytest.mark.parametrize(
    "raw, ok",
    [
        ('{"type": "marker", "width": 640, "height": 496, "band": 16}', True),
        ('{"type": "marker", "width": 0, "height": 0, "band": 0}', True),
        ('{"type": "marker", "width": 640, "height": 496}', False),
        ('{"type": "marker", "width": 640, "height": 496, "band": 15}', False),
        ('{"type": "marker", "width": 640, "height": 496, "band": 66}', False),
        ('{"type": "marker", "width": 640, "height": 16, "band": 16}', False),
    ],
)
def test_the_marker_message_declares_the_band(raw, ok):
    if ok:
        parse(raw)
    else:
        with pytest.raises(ProtocolError, match="'marker'"):
            parse(raw)


def test_a_page_declares_its_band_before_its_offer_and_a_broadcast_takes_none():
    import json

    import websockets

    from livefx.stream.server.app import LivefxServer
    from livefx.stream.server.session import SessionSettings
    from livefx.stream.sources.synthetic import SyntheticSource

    async def replies(source):
        settings = SessionSettings(FrameConverter(torch.device("cpu"), torch.float32), None, size=(64, 48))
        server = LivefxServer(settings, port=0, source=source)
        ready, stop = asyncio.Event(), asyncio.Event()
        task = asyncio.ensure_future(server.serve(ready, stop))
        await ready.wait()
        try:
            async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
                await ws.recv()  # hello
                got = []
                for band in (16, 0):
                    await ws.send(json.dumps({"type": "marker", "width": 320, "height": 240 + BAND, "band": band}))
                    got.append(json.loads(await ws.recv()))
                    if source is None:
                        (session,) = server.sessions
                        got[-1]["rows"] = session.band.rows
                return got
        finally:
            stop.set()
            await task

    on, off = asyncio.run(replies(None))
    assert (on["type"], on["band"], on["rows"]) == ("marker", 16, 16) and off["rows"] == 0
    refused, _ = asyncio.run(replies(SyntheticSource(64, 48, fps=10)))
    assert refused["type"] == "error" and "broadcasts" in refused["message"]
