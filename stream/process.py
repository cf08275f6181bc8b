"""What is done once per process, never per pipeline or per session."""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_frozen = False


def freeze_startup_heap() -> bool:
    """Collect once, then move everything alive (libraries, loaded models) out of the
    collector's reach, so a later full collection has less to walk and cannot stall a frame
    for hundreds of ms. Objects made afterwards (sessions, frames) stay collectable.

    Idempotent and thread-safe; returns True only for the call that froze. Never undone: a
    pipeline or session that unfroze the heap would do it under every other one.
    """
    global _frozen
    with _lock:
        if _frozen:
            return False
        gc.collect()
        gc.freeze()
        _frozen = True
        return True
