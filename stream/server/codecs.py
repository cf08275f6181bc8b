"""Video codec choice and bitrate for aiortc senders.

aiortc clamps every encoder's target bitrate to module-level limits (VP8 and H.264:
0.25-1.5 Mbit/s, starting at 0.5), whatever the browser's bandwidth estimate allows;
that is too little for 720p. ``set_video_bitrate`` moves those limits: the given rate
becomes the start and the ceiling, and congestion control may still go lower.
"""

from __future__ import annotations

from aiortc import RTCRtpSender, RTCRtpTransceiver
from aiortc.codecs import h264, vpx

from ..errors import UsageError

#: ``--codec`` choices and the codecs each lets the answer take. ``auto`` sets none: aiortc's own
#: (H.264 and VP8) in the order the browser's offer gives them. The page puts H.264 first where
#: the browser both encodes and decodes it (web/sdp.js), at about half VP8's cost on each side
#: (stream/server/encoders.py); a preference list here would impose its own order.
CODECS: dict[str, tuple[str, ...]] = {"auto": (), "vp8": ("video/VP8",), "h264": ("video/H264",)}


def set_video_bitrate(bits_per_second: int) -> None:
    """Process-wide: applies to encoders created from now on (and their later REMB updates)."""
    if not 100_000 <= bits_per_second <= 50_000_000:
        raise UsageError(f"--bitrate {bits_per_second}: use 100000-50000000 bits per second")
    for module in (vpx, h264):
        module.MIN_BITRATE = min(module.MIN_BITRATE, bits_per_second)
        module.DEFAULT_BITRATE = bits_per_second
        module.MAX_BITRATE = bits_per_second


def prefer_codec(transceiver: RTCRtpTransceiver, codec: str) -> None:
    """Restrict the transceiver to ``codec``'s codecs (plus retransmission), as negotiated in the answer."""
    if codec not in CODECS:
        raise UsageError(f"--codec {codec}: use one of {', '.join(CODECS)}")
    if not CODECS[codec]:
        return
    wanted = {*CODECS[codec], "video/rtx"}
    caps = RTCRtpSender.getCapabilities("video").codecs
    transceiver.setCodecPreferences([c for c in caps if c.mimeType in wanted])
