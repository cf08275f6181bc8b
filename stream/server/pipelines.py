"""The pipelines a server runs: a broadcast's, shared by every viewer (``BroadcastHub``), and
each send-receive session's own, fed by its browser's camera."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiortc.mediastreams import MediaStreamTrack

from ..pipeline import Pipeline
from ..sinks.base import Sink
from ..sources.base import Source
from ..sources.file import FileSource
from ..stages.style import style_stages
from .band import TimingBand
from .bridge import TrackSink, TrackSource
from .metrics import ServerMetrics
from .settings import SessionSettings


class BroadcastHub:
    """One server-side source processed once; every viewer session gets the same frames."""

    def __init__(self, pipeline: Pipeline, fan_out: TrackSink) -> None:
        self.pipeline = pipeline
        self.fan_out = fan_out

    def start(self) -> None:
        """Start processing (once; later calls do nothing)."""
        if self.pipeline.capture is None:
            self.pipeline.start()

    @property
    def source_ended(self) -> bool:
        """True once the source has no more frames (a file played to its end)."""
        capture = self.pipeline.capture
        return capture is not None and not capture.is_alive() and capture.error is None

    def stop(self) -> None:
        self.pipeline.close()


def build_hub(
    source: Source,
    settings: SessionSettings,
    loop: asyncio.AbstractEventLoop,
    sinks: Sequence[Sink] = (),
    metrics: ServerMetrics | None = None,
) -> BroadcastHub:
    """Off the loop: open the server-side source, load and warm the style, start processing.
    ``sinks`` (a virtual camera, a recording) get the same processed frames as the viewers.
    A file with nowhere else to go waits for its first viewer instead of playing to nobody.
    ``metrics``: the server's ``/metrics``, which counts the hub's frames from the start."""
    fan_out = TrackSink(loop)
    pipeline = Pipeline(
        source,
        [fan_out, *sinks],
        style_stages(settings.style, settings.converter, settings.backend),
        settings.converter,
        settings.pipeline_config(settings.size),
        settings.motion_stage(),
        settings.actions,
        settings.actions_config,
    )
    pipeline.open()
    if metrics is not None:
        metrics.attach(pipeline.stats, pipeline.snapshot)
    hub = BroadcastHub(pipeline, fan_out)
    if sinks or not isinstance(source, FileSource):
        hub.start()
    return hub


def build_session_pipeline(
    settings: SessionSettings,
    source: TrackSource,
    tracks: Sequence[MediaStreamTrack],
    band: TimingBand,
    loop: asyncio.AbstractEventLoop,
    metrics: ServerMetrics | None = None,
    outputs: Sequence[Sink] = (),
) -> Pipeline:
    """Off the loop: a send-receive session's own pipeline, from its browser's camera (and
    microphone: ``source``) to the ``tracks`` it sends back (the processed video, and the
    sound delayed to match), and to ``outputs`` (the server's own, while this session feeds
    them: ``relay.RelayFeed``): load and warm the model, then start the threads.
    ``metrics``: the server's ``/metrics``, which counts this pipeline's frames too."""
    s = settings
    sink = TrackSink(loop, band=band)
    for track in tracks:
        sink.add(track)
    config = s.pipeline_config(size=None)
    stages = style_stages(s.style, s.converter, s.backend)
    sinks = [sink, *outputs]
    pipeline = Pipeline(source, sinks, stages, s.converter, config, s.motion_stage(), s.actions, s.actions_config)
    pipeline.warmup(*s.size)
    if metrics is not None:
        metrics.attach(pipeline.stats, pipeline.snapshot)
    try:
        pipeline.start()
    except BaseException:
        if metrics is not None:
            metrics.detach(pipeline.stats)
        raise
    return pipeline


def release_session_pipeline(pipeline: Pipeline, metrics: ServerMetrics | None = None) -> None:
    """Off the loop: stop a session's own pipeline; ``/metrics`` keeps what it counted."""
    try:
        pipeline.close()
    finally:
        if metrics is not None:
            metrics.detach(pipeline.stats)
