"""web/sdp.js in a real browser: the answer the page applies starts Chromium's bandwidth
estimate high on every video codec and leaves everything else as the server wrote it; the
page's offer puts H.264 first where the browser has it."""

import json

import pytest

from .cdp import blank_page_with
from .test_browser_e2e import chromium  # noqa: F401 - a fixture

#: The shape of an aiortc answer: VP8 without format parameters, its retransmission codec,
#: H264 with some, and an audio section.
ANSWER = "\r\n".join([
    "v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0",
    "m=video 9 UDP/TLS/RTP/SAVPF 97 98 99", "c=IN IP4 0.0.0.0",
    "a=rtpmap:97 VP8/90000", "a=rtcp-fb:97 nack",
    "a=rtpmap:98 rtx/90000", "a=fmtp:98 apt=97",
    "a=rtpmap:99 H264/90000", "a=fmtp:99 packetization-mode=1;profile-level-id=42001f",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10",
    "",
])  # fmt: skip


@pytest.fixture(scope="module")
def page(chromium):  # noqa: F811
    with blank_page_with(chromium, "sdp.js") as browser:
        yield browser


def test_every_video_codec_starts_high_and_nothing_else_changes(page):
    out = page.evaluate(f"window.LivefxSdp.startAtFullSize({json.dumps(ANSWER)})")
    kbps = page.evaluate("window.LivefxSdp.START_KBPS")
    lines = out.split("\r\n")
    assert f"a=fmtp:97 x-google-start-bitrate={kbps}" in lines  # a line of its own where none was
    assert lines.index(f"a=fmtp:97 x-google-start-bitrate={kbps}") == lines.index("a=rtpmap:97 VP8/90000") + 1
    assert f"a=fmtp:99 packetization-mode=1;profile-level-id=42001f;x-google-start-bitrate={kbps}" in lines
    assert "a=fmtp:98 apt=97" in lines  # retransmission: not a codec of its own
    assert "a=fmtp:111 minptime=10" in lines  # sound untouched
    assert (
        out.replace(f"a=fmtp:97 x-google-start-bitrate={kbps}\r\n", "").replace(f";x-google-start-bitrate={kbps}", "")
        == ANSWER
    )


FIRST_VIDEO_CODEC = """(async () => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const preferred = window.LivefxSdp.preferH264(pc);
  const sdp = (await pc.createOffer()).sdp;
  pc.close();
  const video = sdp.split("m=")[1];
  const first = video.split("\\r\\n")[0].split(" ")[3];
  return [preferred, video.match(new RegExp(`a=rtpmap:${first} ([^/]+)`))[1]];
})()"""


def test_the_offer_puts_h264_first_where_the_browser_has_it(page):
    has_h264 = page.evaluate(
        "['Sender', 'Receiver'].every(k => window[`RTCRtp${k}`].getCapabilities('video').codecs"
        ".some(c => c.mimeType === 'video/H264'))"
    )
    if not has_h264:
        pytest.skip("this Chromium build has no H.264")
    assert page.evaluate(FIRST_VIDEO_CODEC) == [True, "H264"]
    plain = page.evaluate(FIRST_VIDEO_CODEC.replace("window.LivefxSdp.preferH264(pc)", "false"))
    assert plain[1] != "H264"  # Chromium's own order starts elsewhere: the preference is what moved it


def test_no_video_transceiver_leaves_the_order_alone(page):
    assert page.evaluate("window.LivefxSdp.preferH264(new RTCPeerConnection())") is False
