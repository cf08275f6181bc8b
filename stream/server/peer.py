"""The WebRTC side of one session: the offer and its answer, ICE candidates, the tracks in and
out, and the codec the answer offers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from . import protocol
from .audio_out import ProcessedAudioTrack
from .band import TimingBand
from .bridge import ProcessedTrack, TrackSource, discard, drain, drain_audio
from .codecs import prefer_codec
from .encoders import use_lean_encoders
from .jitter import use_prompt_jitter_buffer

log = logging.getLogger("livefx.server")


class PeerLink:
    """One session's peer connection: the camera track it receives (send-receive mode) into
    ``source``, and ``out_track``, the processed frames it sends. One stream per session: a
    second offer is refused; a failed one is undone, so a corrected offer may follow."""

    def __init__(self, codec: str, band: TimingBand, spawn: Callable[[Coroutine[Any, Any, Any]], None]) -> None:
        """``band``: the page's timing band, cut off the camera's frames on arrival.
        ``spawn``: runs the session's background tasks (reading the tracks received)."""
        use_lean_encoders()
        use_prompt_jitter_buffer()
        self.codec = codec
        self.band = band
        self._spawn = spawn
        self.pc: RTCPeerConnection | None = None
        self.source: TrackSource | None = None
        self.out_track: ProcessedTrack | None = None
        #: The sound sent back beside ``out_track`` (None: the stream has none).
        self.audio_out: ProcessedAudioTrack | None = None

    async def accept(self, sdp: str, receive: bool, sound_channels: int = 0) -> RTCSessionDescription:
        """Apply the client's offer and create the answer (applied by ``finish``). ``receive``:
        the client sends its camera (send-receive), and its microphone when the offer has one;
        otherwise it only watches (broadcast) the server's source, whose sound has
        ``sound_channels`` (0: none). The sound goes back when the offer takes audio."""
        if self.pc is not None:
            raise protocol.ProtocolError("this session already has a stream; open a new websocket to restart")
        pc = self.pc = RTCPeerConnection()
        self.out_track = ProcessedTrack()
        audio = offered_audio(sdp)
        mic = receive and audio in ("sendrecv", "sendonly")
        channels = 1 if mic else sound_channels  # the microphone comes in mono (BrowserAudio)
        if channels and audio in ("sendrecv", "recvonly"):
            self.audio_out = ProcessedAudioTrack(channels, self.out_track.capture_to_send.median)
        if receive:
            self.source = TrackSource(band=self.band, audio=mic)

            @pc.on("track")
            def on_track(track) -> None:
                if track.kind == "video":
                    self._spawn(drain(track, self.source))
                elif track.kind == "audio":
                    self._spawn(drain_audio(track, self.source) if mic else discard(track))

        # Created before the offer is applied so the codec choice shapes the negotiation;
        # aiortc pairs them with the offer's video and audio m-lines.
        transceiver = pc.addTransceiver(self.out_track, direction="sendrecv" if receive else "sendonly")
        prefer_codec(transceiver, self.codec)
        if self.audio_out is not None:
            pc.addTransceiver(self.audio_out, direction="sendrecv" if mic else "sendonly")
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            if transceiver.mid is None:
                raise ValueError("the offer has no video: add a camera track or a recvonly video transceiver")
            return await pc.createAnswer()  # fails too on offers aiortc parsed but cannot pair
        except Exception as exc:  # noqa: BLE001 - aiortc raises ValueError and others on bad SDP
            await self.abandon()
            raise protocol.ProtocolError(f"invalid offer: {protocol.first_line(exc)}") from None

    def watch(self, on_state: Callable[[str], Awaitable[None]]) -> None:
        """Call ``on_state`` with each connection state of this offer's connection (not once
        it is abandoned: its closing is not the session's end)."""
        pc = self.pc
        assert pc is not None

        @pc.on("connectionstatechange")
        async def on_state_change() -> None:
            if pc is self.pc:
                await on_state(pc.connectionState)

    async def finish(self, answer: RTCSessionDescription) -> str:
        """Apply the answer; returns its SDP for the client. aiortc gathers all candidates
        here: no trickle needed. On failure the caller undoes the offer (``abandon``)."""
        assert self.pc is not None
        try:
            await self.pc.setLocalDescription(answer)
        except Exception as exc:  # noqa: BLE001 - the stream cannot start
            raise protocol.ProtocolError(f"invalid offer: {protocol.first_line(exc)}") from None
        return self.pc.localDescription.sdp

    async def add_candidate(self, data: dict) -> None:
        """A ``candidate`` message: one more ICE candidate of the client's (empty: the end)."""
        if self.pc is None:
            raise protocol.ProtocolError("'candidate' before 'offer'")
        if not data["candidate"]:
            return  # end-of-candidates
        if data.get("sdpMid") is None and data.get("sdpMLineIndex") is None:
            raise protocol.ProtocolError("'candidate' needs 'sdpMid' or 'sdpMLineIndex'")
        try:
            candidate = candidate_from_sdp(data["candidate"].removeprefix("candidate:"))
        except Exception:  # noqa: BLE001
            raise protocol.ProtocolError("malformed ICE candidate") from None
        candidate.sdpMid = data.get("sdpMid")
        candidate.sdpMLineIndex = data.get("sdpMLineIndex")
        await self.pc.addIceCandidate(candidate)

    async def abandon(self) -> None:
        """Undo an offer: close its connection and forget its tracks."""
        pc, self.pc = self.pc, None
        if pc is not None:
            await pc.close()
        self.source, self.out_track, self.audio_out = None, None, None

    async def close(self) -> None:
        """The session's end: close the connection and end the camera's frames."""
        if self.pc is not None:
            await self.pc.close()
        if self.source is not None:
            self.source.end()


def offered_audio(sdp: str) -> str | None:
    """The direction of the offer's first audio m-line (None: no audio in it)."""
    section = None
    for line in sdp.splitlines():
        if line.startswith("m="):
            if section is not None:
                break
            section = "audio" if line.startswith("m=audio") else None
            direction = "sendrecv"  # the default when the section names none
        elif section == "audio" and line.strip() in ("a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"):
            direction = line.strip()[2:]
    return direction if section == "audio" else None
