"""The control messages a session applies to its pipeline: the style, the budget,
interpolation, the output's mix and mirror, a diffusion style's prompt, and the page's timing
band (``marker``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from livefx.models.diffusion.stage import DiffusionStage

from ..errors import LivefxError
from ..pipeline import Pipeline
from ..scheduling.control import SetLook
from ..stages.style import Style, pick_style
from . import protocol
from .band import TimingBand
from .events import prompt_event

NO_STREAM = "no stream yet: send an offer first"


class Controls:
    """Applies one session's control messages to its pipeline and answers them: ``send`` to
    this client, ``emit`` to it and the observers (the prompt every page's prompt box shows)."""

    def __init__(
        self,
        style: Style,
        band: TimingBand,
        broadcast: bool,
        pipeline: Callable[[], Pipeline | None],
        send: Callable[[str], Awaitable[None]],
        emit: Callable[[str], Awaitable[None]],
    ) -> None:
        """``style``: the server's own (its diffusion model is switched back to, not reloaded).
        ``broadcast``: the pipeline is the server's shared one. ``pipeline``: the session's
        pipeline now (None before its offer)."""
        self.style = style
        self.band = band
        self.broadcast = broadcast
        self._pipeline = pipeline
        self._send = send
        self._emit = emit

    def _running(self) -> Pipeline:
        pipeline = self._pipeline()
        if pipeline is None:
            raise protocol.ProtocolError(NO_STREAM)
        return pipeline

    async def marker(self, width: int, height: int, band: int) -> None:
        """The page's frames are ``width`` x ``height`` with a timing band of ``band`` rows on top."""
        if self.broadcast:
            raise protocol.ProtocolError("'marker' is for a page that sends its camera; this server broadcasts")
        try:
            self.band.declare(width, height, band)
        except ValueError as exc:
            raise protocol.ProtocolError(f"'marker': {exc}") from None
        await self._send(protocol.event("marker", width=width, height=height, band=band))

    async def interpolate(self, on: bool) -> None:
        pipeline = self._pipeline()
        if pipeline is None or pipeline.worker is None:
            raise protocol.ProtocolError(NO_STREAM)
        if pipeline.motion is None:
            raise protocol.ProtocolError(
                "interpolation is off on this server: start it with --interpolate or --stabilize"
            )
        await asyncio.wrap_future(pipeline.set_motion(on))
        await self._send(protocol.event("interpolate", on=on))

    async def budget(self, ms: float) -> None:
        pipeline = self._running()
        await asyncio.wrap_future(pipeline.set_budget(float(ms)))
        await self._send(protocol.event("budget", ms=float(ms)))

    async def mix(self, value: float) -> None:
        """The effect mixed with the input (0..1), on the session's pipeline (a broadcast's, as the budget)."""
        pipeline = self._running()
        await asyncio.wrap_future(pipeline.live.set_look(SetLook(mix=float(value))))
        await self._send(protocol.event("mix", value=float(value)))

    async def mirror(self, on: bool) -> None:
        """The output mirrored or not (every sink's picture; the page's preview mirror is its own)."""
        pipeline = self._running()
        await asyncio.wrap_future(pipeline.live.set_look(SetLook(mirror="on" if on else "off")))
        await self._send(protocol.event("mirror", on=on))

    async def switch_style(self, name: str) -> None:
        """A task (loading a style takes a while): what fails goes back as an ``error``."""
        try:
            pipeline = self._running()
            style = pick_style(name, self.style)  # the server's diffusion model, or a style network
            await asyncio.wrap_future(pipeline.switch_style(style))
        except (LivefxError, protocol.ProtocolError) as exc:
            await self._send(protocol.error(str(exc)))
            return
        await self._send(protocol.event("style", name=name, status="ready"))
        if isinstance(pipeline.style_stage(), DiffusionStage):
            await self.emit_prompt(pipeline)  # the settings it resumed with, for every page's prompt box

    async def prompt(self, prompt: str, strength: float | None, seed: int | None) -> None:
        """A task (encoding a prompt takes a while): what fails goes back as an ``error``."""
        try:
            pipeline = self._running()
            await asyncio.wrap_future(pipeline.set_prompt(prompt, strength, seed))
        except (LivefxError, protocol.ProtocolError) as exc:
            await self._send(protocol.error(str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - e.g. out of memory encoding the prompt: say so, go on
            await self._send(protocol.error(f"prompt not applied: {protocol.first_line(exc)}"))
            return
        await self.emit_prompt(pipeline)

    async def emit_prompt(self, pipeline: Pipeline) -> None:
        """The running diffusion settings, to this client and the observers."""
        await self._emit(prompt_event(pipeline))
