"""A pipeline's outputs: one runner thread per sink, each pulling the latest processed frame
from the output ring (a slow sink drops frames, a failed one is reported once, and neither
slows the worker or the other sinks); and the stats document, with every part's counters."""

from __future__ import annotations

import logging

from livefx.models.diffusion.stage import DiffusionStage
from livefx.models.stage import Stage

from ..errors import LivefxError
from ..scheduling.ring import Ring
from ..scheduling.worker import Worker
from ..stages.actions import ActionStage
from ..stats import RunStats
from .base import Sink
from .bus import SinkRunner

log = logging.getLogger("livefx")


class Outputs:
    """The sinks of one run and their runners (built by ``start``)."""

    def __init__(self, sinks: list[Sink], frames_out: Ring) -> None:
        self.sinks = sinks
        self.frames_out = frames_out
        self.runners: list[SinkRunner] = []
        #: ``Pipeline.join()`` is waiting: it raises the error of the last output to fail.
        self.joining = False

    def start(self, fps: float) -> list[SinkRunner]:
        """A runner per sink, paced for ``fps`` output frames a second; the caller starts them."""
        self.runners = [SinkRunner(sink, self.frames_out, fps, self._failed) for sink in self.sinks]
        return self.runners

    def _failed(self, runner: SinkRunner) -> None:
        """Say once why an output stopped: logged here, unless it was the last one and
        ``join()`` is about to raise it (the CLI prints that)."""
        others = [r for r in self.runners if r is not runner and r.error is None and r.is_alive()]
        error, rest = runner.error, "; the other outputs keep running" * bool(others)
        if not isinstance(error, LivefxError):
            log.error("%s: output failed%s", runner.sink.spec, rest, exc_info=error)
        elif others or not self.joining:
            log.error("%s%s", error, rest)

    @property
    def errors(self) -> list[BaseException]:
        return [r.error for r in self.runners if r.error is not None]

    @property
    def all_failed(self) -> bool:
        """Every output failed: nothing is left to deliver to."""
        return bool(self.runners) and all(r.error is not None for r in self.runners)

    def snapshot(
        self, stats: RunStats, frames_in: Ring, worker: Worker | None, actions: ActionStage | None, style: Stage | None
    ) -> dict:
        """The stats document, with the counters owned by the input ring, the ``worker``, the
        classifier and the sinks folded in, and the live settings of a diffusion ``style``."""
        fields: dict[str, object] = {"frames_in": frames_in.pushed}
        if actions is not None:
            fields["actions"] = actions.snapshot()
        if worker is not None:
            fields.update(worker.counters())
        fields["sinks"] = {r.sink.spec: r.counters() for r in self.runners}
        fields["diffusion"] = style.live_state() if isinstance(style, DiffusionStage) else None
        stats.update(**fields)
        return stats.snapshot()
