"""What a session's page sees while its models load and warm up.

A first start converts each model for the CPU runtime, quantizes and checks its int8 form and
times the candidates at every size the planner may ask for: tens of seconds on a small CPU, all
before the page gets its answer. The terminal shows each step (the ``livefx`` loggers' INFO
lines); ``LoadProgress`` sends the same lines to the page as ``progress`` events while the load
runs. The lines come from the threads that load and run models, which sessions share, so a page
whose load overlaps another's may also see that one's steps; the server's own lines (logged on
its event loop: connections, sessions) are not sent.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable

from . import protocol

LOGGER = "livefx"


class LoadProgress(logging.Handler):
    """While entered (on the event loop ``loop``), forwards the ``livefx`` loggers' INFO lines
    logged off the loop's thread to ``send`` (a coroutine function taking a protocol message)."""

    def __init__(self, send: Callable[[str], Awaitable[object]], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(logging.INFO)
        self._send = send
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._loop_thread:
            return
        message = protocol.event("progress", message=record.getMessage()[:200])
        asyncio.run_coroutine_threadsafe(self._deliver(message), self._loop)

    async def _deliver(self, message: str) -> None:
        try:
            await self._send(message)
        except Exception:  # noqa: BLE001 - the page may be gone; the load goes on regardless
            pass

    def __enter__(self) -> LoadProgress:
        logging.getLogger(LOGGER).addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger(LOGGER).removeHandler(self)
