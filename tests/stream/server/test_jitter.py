from aiortc import rtcrtpreceiver
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from livefx.stream.server.jitter import PromptJitterBuffer, use_prompt_jitter_buffer


def packet(seq: int, timestamp: int, data: bytes, marker: bool = False) -> RtpPacket:
    p = RtpPacket(payload_type=96, marker=int(marker), sequence_number=seq, timestamp=timestamp)
    p._data = data  # what the receiver's depayloader leaves on each packet
    return p


def frame_packets(first_seq: int, timestamp: int, parts: list[bytes]) -> list[RtpPacket]:
    """One frame's packets, the last one marked."""
    return [packet(first_seq + i, timestamp, d, i == len(parts) - 1) for i, d in enumerate(parts)]


def emitted(buffer: JitterBuffer, packets: list[RtpPacket]) -> list[tuple[int, bytes, int]]:
    """(index of the packet whose arrival let it go, data, timestamp) for each frame out."""
    out = []
    for i, p in enumerate(packets):
        _, frame = buffer.add(p)
        if frame is not None:
            out.append((i, frame.data, frame.timestamp))
    return out


def test_a_frame_leaves_with_its_marked_last_packet_not_with_the_next_frame():
    stream = frame_packets(100, 3000, [b"a", b"b", b"c"]) + frame_packets(103, 6000, [b"d", b"e"])
    assert emitted(PromptJitterBuffer(capacity=128, is_video=True), stream) == [(2, b"abc", 3000), (4, b"de", 6000)]
    # aiortc's own buffer: each frame waits for the next frame's first packet (one frame interval)
    assert emitted(JitterBuffer(capacity=128, is_video=True), stream) == [(3, b"abc", 3000)]


def test_a_frame_with_a_packet_missing_waits_for_it_then_leaves_whole():
    a, b, c = frame_packets(10, 90, [b"a", b"b", b"c"])
    d, e = frame_packets(13, 180, [b"d", b"e"])
    # b is lost, then retransmitted after the next frame started arriving
    out = emitted(PromptJitterBuffer(capacity=128, is_video=True), [a, c, d, b, e])
    assert out == [(3, b"abc", 90), (4, b"de", 180)]


def test_reordered_packets_still_make_one_whole_frame():
    a, b, c = frame_packets(500, 7, [b"a", b"b", b"c"])
    assert emitted(PromptJitterBuffer(capacity=128, is_video=True), [a, c, b]) == [(2, b"abc", 7)]


def test_sound_keeps_aiortcs_rule():
    stream = frame_packets(1, 960, [b"x"]) + frame_packets(2, 1920, [b"y"]) + frame_packets(3, 2880, [b"z"])
    assert emitted(PromptJitterBuffer(capacity=16), stream) == emitted(JitterBuffer(capacity=16), stream)


def test_receivers_get_the_prompt_buffer():
    use_prompt_jitter_buffer()
    assert rtcrtpreceiver.JitterBuffer is PromptJitterBuffer
