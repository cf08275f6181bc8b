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
