import asyncio

import pytest
import torch
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.codecs import h264, vpx
from aiortc.mediastreams import VideoStreamTrack

from livefx.stream.device import FrameConverter
from livefx.stream.errors import UsageError
from livefx.stream.server.codecs import set_video_bitrate
from livefx.stream.server.protocol import Message
from livefx.stream.server.session import Session, SessionSettings


@pytest.fixture
def restore_bitrates():
    saved = {m: (m.MIN_BITRATE, m.DEFAULT_BITRATE, m.MAX_BITRATE) for m in (vpx, h264)}
    yield
    for m, (lo, default, hi) in saved.items():
        m.MIN_BITRATE, m.DEFAULT_BITRATE, m.MAX_BITRATE = lo, default, hi


def test_bitrate_lifts_aiortc_clamp(restore_bitrates):
    set_video_bitrate(4_000_000)
    encoder = vpx.Vp8Encoder()
    assert encoder.target_bitrate == 4_000_000
    encoder.target_bitrate = 20_000_000  # a generous bandwidth estimate is still capped
    assert encoder.target_bitrate == 4_000_000
    encoder.target_bitrate = 300_000  # congestion control can still go lower
    assert encoder.target_bitrate == 300_000
    assert h264.H264Encoder().target_bitrate == 4_000_000
    with pytest.raises(UsageError, match="--bitrate"):
        set_video_bitrate(10)


@pytest.mark.parametrize("codec, present, absent", [("h264", "H264/90000", "VP8/90000"), ("vp8", "VP8/90000", "H264")])
def test_answer_offers_only_the_chosen_codec(codec, present, absent):
    async def negotiate():
        sent = []

        async def send(msg):
            sent.append(msg)

        settings = SessionSettings(
            FrameConverter(torch.device("cpu"), torch.float32), None, size=(64, 48), backend="eager", codec=codec
        )
        session = Session(send, settings)
        client = RTCPeerConnection()
        client.addTrack(VideoStreamTrack())
        await client.setLocalDescription(await client.createOffer())
        await session.handle(Message("offer", {"type": "offer", "sdp": client.localDescription.sdp}))
        import json

        answer = json.loads(sent[0])["sdp"]
        await client.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await session.close()
        await client.close()
        return answer

    answer = asyncio.run(negotiate())
    assert present in answer and absent not in answer
