"""The browser's microphone comes back beside the processed video, delayed to match it; a
broadcast of a file with sound sends its sound to every viewer."""

import asyncio
import fractions
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from livefx.stream.server.audio_out import FRAME_SAMPLES, ProcessedAudioTrack
from livefx.stream.server.peer import offered_audio

from .test_sessions import Caller, running_server, small_settings

RATE = 48_000


class BeepingMicrophone(MediaStreamTrack):
    """A microphone that beeps (1 kHz, 40 ms) every 500 ms, paced to real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0
        self.t0: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.t0 is None:
            self.t0 = time.monotonic()
        wait = self.t0 + self.sent / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        n = np.arange(self.sent, self.sent + 960)
        beeping = (n % (RATE // 2)) < RATE * 0.04
        samples = (np.sin(2 * np.pi * 1000 * n / RATE) * 12000 * beeping).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, self.sent, fractions.Fraction(1, RATE)
        self.sent += 960
        return frame


async def a_call_with_a_microphone(seconds: float = 3.0) -> tuple[list[np.ndarray], dict]:
    """The caller's sound as it comes back, and what the server's audio track did."""
    async with running_server(small_settings()) as server:
        caller = Caller(server.port)
        caller.pc.addTrack(BeepingMicrophone())  # a microphone beside the camera
        await caller.join()
        await caller.frames_beyond(5)  # the video goes on as ever
        await asyncio.sleep(seconds)
        (session,) = server.sessions
        audio_out = session.link.audio_out
        server_side = {
            "target_ms": audio_out.delay.target_ms if audio_out else None,
            "floor_ms": audio_out.floor_ms if audio_out else None,
            "video_ms": session.out_track.capture_to_send.median(time.monotonic_ns()),
            "source_has_audio": session.source.has_audio,
        }
        await caller.leave()
        return caller.audio, server_side


def test_a_callers_microphone_comes_back_delayed_to_match_the_video():
    received, server_side = asyncio.run(a_call_with_a_microphone())
    assert server_side["source_has_audio"]
    sound = np.concatenate([frame.reshape(-1, 2)[:, 0] for frame in received]) if received else np.zeros(0)
    assert len(sound) >= RATE, f"only {len(sound)} samples came back"
    loud = np.abs(sound.astype(np.int32)) > 4000
    assert loud.mean() > 0.02, "the beeps did not come back"  # 40 ms in 500 ms: about 8 %
    # The sound leaves as long after its capture as the picture does (the browser lines them
    # up), or as its own path needs when the picture is quicker (here: no style).
    assert server_side["target_ms"] is not None and server_side["video_ms"] is not None
    wanted = max(server_side["video_ms"], server_side["floor_ms"])
    assert abs(server_side["target_ms"] - wanted) <= 20, server_side


def test_offered_audio_reads_the_direction_of_the_offers_audio_section():
    video = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendrecv\r\n"
    assert offered_audio("v=0\r\n" + video) is None
    assert offered_audio(video + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=recvonly\r\n") == "recvonly"
    assert offered_audio("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\n" + video) == "sendrecv"
    assert offered_audio(video + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n") == "sendrecv"  # the default


def test_the_audio_track_paces_20_ms_frames_and_plays_what_was_captured_the_video_latency_ago():
    from livefx.stream.audio.chunk import AudioChunk

    now = [10_000_000_000]
    track = ProcessedAudioTrack(1, lambda t: 80.0, clock=lambda: now[0])
    tone = (np.sin(np.arange(RATE) * 2 * np.pi * 440 / RATE) * 10000).astype(np.int16)[:, None]
    track.offer(AudioChunk(tone, RATE, 0.0, t_capture=now[0]))  # one second captured from now on
    first = track.due_ns()
    frames = []
    for _ in range(60):  # 1.2 s of output, the clock moved by hand
        now[0] = track.due_ns()
        frames.append(track.next_frame(now[0]))
    assert [f.pts for f in frames[:3]] == [0, FRAME_SAMPLES, 2 * FRAME_SAMPLES]
    assert track.due_ns() - first == 60 * 20_000_000
    played = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
    start = int(np.argmax(np.abs(played) > 100))
    assert abs(start - int(0.080 * RATE)) <= FRAME_SAMPLES // 10, start  # 80 ms of silence first


def test_discard_reads_a_track_to_its_end():
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
