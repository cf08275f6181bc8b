import asyncio
import json

import pytest
import torch
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
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


def negotiate(codec: str, client_prefers_h264: bool = False) -> str:
    """The server's answer to an aiortc client's offer, with ``--codec codec``."""

    async def run():
        sent = []

        async def send(msg):
            sent.append(msg)

        settings = SessionSettings(
            FrameConverter(torch.device("cpu"), torch.float32), None, size=(64, 48), backend="eager", codec=codec
        )
        session = Session(send, settings)
        client = RTCPeerConnection()
        client.addTrack(VideoStreamTrack())
        if client_prefers_h264:
            caps = RTCRtpSender.getCapabilities("video").codecs
            client.getTransceivers()[0].setCodecPreferences(sorted(caps, key=lambda c: c.mimeType != "video/H264"))
        await client.setLocalDescription(await client.createOffer())
        await session.handle(Message("offer", {"type": "offer", "sdp": client.localDescription.sdp}))
        answer = json.loads(sent[0])["sdp"]
        await client.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await session.close()
        await client.close()
        return answer

    return asyncio.run(run())


@pytest.mark.parametrize("codec, present, absent", [("h264", "H264/90000", "VP8/90000"), ("vp8", "VP8/90000", "H264")])
def test_answer_offers_only_the_chosen_codec(codec, present, absent):
    answer = negotiate(codec)
    assert present in answer and absent not in answer


@pytest.mark.parametrize("client_prefers_h264, first", [(True, "H264"), (False, "VP8")])
def test_auto_answers_both_codecs_in_the_offers_order(client_prefers_h264, first):
    answer = negotiate("auto", client_prefers_h264)
    lines = answer.split("m=video")[1].split("m=")[0].split("\r\n")
    rtpmap = dict(line[len("a=rtpmap:") :].split(" ", 1) for line in lines if line.startswith("a=rtpmap:"))
    names = [rtpmap[f].split("/")[0] for f in lines[0].split()[2:]]
    assert {"H264", "VP8"} <= set(names) and names[0] == first
