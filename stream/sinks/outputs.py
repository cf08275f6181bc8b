"""A pipeline's outputs: one runner thread per sink, each pulling the latest processed frame
from the output ring (a slow sink drops frames, a failed one is reported once, and neither
slows the worker or the other sinks), and the sinks that hold audio their own consumer of the
source's sound; and the stats document, with every part's counters."""

from __future__ import annotations

import logging

from livefx.models.diffusion.stage import DiffusionStage
from livefx.models.stage import Stage

from ..audio.bus import AudioBus
from ..audio.chunk import AUDIO_RATE
from ..errors import LivefxError
from ..scheduling.ring import Ring
from ..scheduling.worker import Worker
from ..sources.capture import CaptureThread
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
        #: The source's sound, pushed by the capture thread (unused when the source has none).
        self.audio = AudioBus()
        self.capture: CaptureThread | None = None
        self.runners: list[SinkRunner] = []
        #: ``Pipeline.join()`` is waiting: it raises the error of the last output to fail.
        self.joining = False

    def start(self, fps: float, capture: CaptureThread | None = None) -> list[SinkRunner]:
        """A runner per sink, paced for ``fps`` output frames a second; the caller starts them.
        When ``capture`` passes sound on (to ``audio``), each sink that holds audio gets its
        own consumer of it; the others are named in one line, once."""
        self.capture = capture
        audio_channels = capture.audio_channels if capture is not None else 0
        with_sound = audio_channels > 0
        video_only: list[str] = []
        self.runners = []
        for sink in self.sinks:
            consumer = None
            if with_sound and sink.holds_audio:
                sink.expect_audio(AUDIO_RATE, audio_channels)
                consumer = self.audio.consumer(sink.spec)
            elif with_sound:
                video_only.append(sink.spec)
            self.runners.append(SinkRunner(sink, self.frames_out, fps, self._failed, consumer))
        if video_only and capture is not None:
            names, they = ", ".join(video_only), _they(video_only)
            log.info("%s: video only; %s cannot hold the sound of %s", names, they, capture.source.spec)
        return self.runners

    def audio_counters(self) -> dict | None:
        """The ``audio`` object of the stats (None when the run has no sound)."""
        if self.capture is None or not self.capture.audio_channels:
            return None
        consumers = [r for r in self.runners if r.audio is not None]
        sinks = {r.sink.spec: _audio_entry(r) for r in consumers}
        dropped = self.capture.audio_dropped + sum(r.audio.dropped for r in consumers if r.audio is not None)
        return {"chunks_in": self.audio.pushed, "chunks_dropped": dropped, "sinks": sinks}

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
        self,
        stats: RunStats,
        frames_in: Ring,
        worker: Worker | None,
        actions: ActionStage | None,
        style: Stage | None,
    ) -> dict:
        """The stats document, with the counters owned by the input ring, the ``worker``, the
        classifier, the sinks and the sound folded in, and the live settings of a diffusion ``style``."""
        fields: dict[str, object] = {"frames_in": frames_in.pushed}
        if actions is not None:
            fields["actions"] = actions.snapshot()
        if worker is not None:
            fields.update(worker.counters())
        fields["sinks"] = {r.sink.spec: r.counters() for r in self.runners}
        fields["diffusion"] = style.live_state() if isinstance(style, DiffusionStage) else None
        fields["audio"] = self.audio_counters()
        stats.update(**fields)
        return stats.snapshot()


def _audio_entry(runner: SinkRunner) -> dict:
    """Chunks a sink took and lost; a live audio output's own counters (the virtual microphone's
    delay line: target, gaps, drops) under ``delay``."""
    assert runner.audio is not None
    entry: dict[str, object] = {"written": runner.audio_written, "dropped": runner.audio.dropped}
    own = getattr(runner.sink, "audio_counters", None)
    if own is not None:
        entry["delay"] = own()
    return entry


def _they(specs: list[str]) -> str:
    return "they" if len(specs) > 1 else "it"
