"""Signals that arrive while models load: the process stops at once, cleanly, with a word.

Loading and warming models up can take seconds (more on a busy machine); until the stream's
own handlers are in place (``cli.stop_run_on_signals``, the server's loop handlers), SIGTERM
and SIGHUP would kill the process without its ``finally`` blocks. ``stop_during_startup``
turns them into ``StoppedDuringStartup`` raised in the main thread, which is only waiting
for the loading thread then (``own_thread``): nothing has been opened for writing yet.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator

from ..errors import LivefxError

#: The signals a service manager or a terminal sends to stop a program.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class StoppedDuringStartup(LivefxError):
    """A stop signal arrived before the stream started; nothing was written."""

    exit_code = 128 + signal.SIGTERM


@contextlib.contextmanager
def handling_stop_signals(handler: Callable[[int, object], None]) -> Iterator[None]:
    """Within the block, ``handler`` takes SIGTERM, and SIGHUP unless the process was started
    with it ignored (``nohup``); the previous handlers come back after it."""
    previous = {}
    for sig in STOP_SIGNALS:
        if sig == signal.SIGTERM or signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def stop_during_startup() -> contextlib.AbstractContextManager[None]:
    """Within the block, SIGTERM (and SIGHUP unless ignored) raise ``StoppedDuringStartup``."""

    def stop(signum: int, _frame: object) -> None:
        raise StoppedDuringStartup(f"stopped by {signal.Signals(signum).name} while starting; nothing was written")

    return handling_stop_signals(stop)
