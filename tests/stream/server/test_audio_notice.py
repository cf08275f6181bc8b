"""The browser's audio is not processed yet: the server log says so, once a session."""

import asyncio
import logging

from aiortc.mediastreams import AudioStreamTrack

from .test_sessions import Caller, running_server, small_settings


async def a_call_with_audio() -> None:
    async with running_server(small_settings()) as server:
        caller = Caller(server.port)
        caller.pc.addTrack(AudioStreamTrack())  # a microphone beside the camera
        await caller.join()
        await caller.frames_beyond(5)  # the video goes on as ever
        await caller.leave()


def test_audio_from_the_browser_is_announced_as_dropped_once(caplog):
    with caplog.at_level(logging.INFO, logger="livefx"):
        asyncio.run(a_call_with_audio())
    notices = [r for r in caplog.records if "audio" in r.getMessage()]
    assert len(notices) == 1, [r.getMessage() for r in caplog.records]
    assert notices[0].levelno == logging.WARNING and "dropped" in notices[0].getMessage()
    assert notices[0].name == "livefx.server"


def test_the_dropped_audio_is_received_and_discarded_so_no_queue_grows(monkeypatch):
    import livefx.stream.server.peer as peer
    from livefx.stream.server.bridge import discard

    drained: list[str] = []

    async def counting_discard(track) -> None:
        drained.append(track.kind)
        await discard(track)

    monkeypatch.setattr(peer, "discard", counting_discard)
    asyncio.run(a_call_with_audio())
    assert drained == ["audio"]


def test_discard_reads_a_track_to_its_end():
    from aiortc.mediastreams import MediaStreamError

    from livefx.stream.server.bridge import discard

    class Track:
        kind = "audio"

        def __init__(self) -> None:
            self.left = 5

        async def recv(self):
            if not self.left:
                raise MediaStreamError
            self.left -= 1
            return object()

    track = Track()
    asyncio.run(discard(track))
    assert track.left == 0
