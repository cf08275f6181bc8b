"""How many of the machine's cores sat idle since the last reading (Linux ``/proc/stat``).

The thread tuner asks before it tries more threads: a second model thread helps only where a
core is free. In the page on two cores the browser and the server's codecs keep both busy
(9-13% idle), and every trial of two threads there cost its frames (bench/NOTES.md, section 22).
"""

from __future__ import annotations

import os
from pathlib import Path

PROC_STAT = Path("/proc/stat")


class IdleCores:
    """Reads the machine's idle time; ``since_last()`` is the mean number of idle cores over the
    time since the previous call (None on the first call, or where ``/proc/stat`` cannot be read:
    then nothing is known and the caller decides as before)."""

    def __init__(self, path: Path = PROC_STAT, cores: int | None = None) -> None:
        self.path = path
        self.cores = cores or os.cpu_count() or 1
        self._last: tuple[int, int] | None = None

    def since_last(self) -> float | None:
        now = self._read()
        last, self._last = self._last, now
        if now is None or last is None or now[1] <= last[1]:
            return None
        idle, total = now[0] - last[0], now[1] - last[1]
        return self.cores * idle / total

    def _read(self) -> tuple[int, int] | None:
        """(idle, total) jiffies of all CPUs: the first line of ``/proc/stat``."""
        try:
            fields = self.path.read_text().split("\n", 1)[0].split()
        except OSError:
            return None
        if len(fields) < 6 or fields[0] != "cpu":  # through iowait at least
            return None
        ticks = [int(value) for value in fields[1:9]]  # user nice system idle iowait irq softirq steal
        return ticks[3] + ticks[4], sum(ticks)
