"""A video jitter buffer that lets each frame go as soon as its last packet is in.

aiortc's ``JitterBuffer`` knows a video frame is complete only when the first packet of the
next frame arrives (a new RTP timestamp), so every frame from the browser waited one frame
interval (33 ms at 30 fps) before the server could decode it. The sender marks each frame's
last packet (the RTP marker bit, RFC 7741 for VP8, RFC 6184 for H.264); with every packet
from the frame's first to that one in place, the frame is whole. ``use_prompt_jitter_buffer``
makes aiortc's receivers use this buffer; a frame whose packets are not all in yet still waits
(for retransmission or aiortc's own rule), as before.
"""

from __future__ import annotations

from aiortc import rtcrtpreceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket


class PromptJitterBuffer(JitterBuffer):
    """aiortc's jitter buffer; for video, a frame also leaves when its marked last packet is in."""

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        if not self._is_video:
            return super()._remove_frame(sequence_number)
        # One pass from the oldest packet: the first frame is whole at its marked last packet,
        # or (aiortc's rule, for senders that do not mark) when the next frame's packet follows.
        packets: list[RtpPacket] = []
        for count in range(self.capacity):
            packet = self._packets[(self._origin + count) % self.capacity]
            if packet is None:
                return None  # a packet missing: wait for it
            if packets and packet.timestamp != packets[0].timestamp:
                return self._release(packets, count)
            packets.append(packet)
            if packet.marker:
                return self._release(packets, count + 1)
        return None

    def _release(self, packets: list[RtpPacket], count: int) -> JitterFrame:
        self.remove(count)
        return JitterFrame(data=b"".join(p._data for p in packets), timestamp=packets[0].timestamp)


def use_prompt_jitter_buffer() -> None:
    """Receivers created from now on use ``PromptJitterBuffer`` (process-wide, idempotent)."""
    rtcrtpreceiver.JitterBuffer = PromptJitterBuffer
