"""Model work off the frame path runs on a thread that ends with it.

On Linux, PyTorch's CPU kernels (and MKL's) run on GNU OpenMP (libgomp). libgomp keeps a
pool of helper threads for every thread that has run a parallel region, for as long as
that thread lives, and once the helpers of all pools outnumber the CPUs it stops letting
them spin between regions: each of the hundreds of small parallel regions of a frame then
pays a sleep and a wake-up. Measured on a 2-core machine (bench/NOTES.md, section 10): the
default style at 160x120 took 44-48 ms a frame in the worker once the main thread had
warmed it up, 20-23 ms when the warm-up ran on a thread of its own.

So the worker thread is the only long-lived thread that runs models: warm-up, a style
being prepared, a prompt being encoded and each action classification run on a thread
that ends when the work does, and its pool goes with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def run_on_own_thread(work: Callable[[], T], name: str) -> T:
    """``work()`` on a new thread named ``name``, waited for; its result, or what it raised.
    A Ctrl-C while waiting propagates at once (the daemon thread is left to finish)."""
    outcome: dict[str, object] = {}

    def body() -> None:
        try:
            outcome["result"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]
