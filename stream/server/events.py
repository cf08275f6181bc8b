"""The events a pipeline's state becomes on ``/ws``, the ``hello`` a client starts with, and
the broadcast's report to observers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from livefx.models.diffusion.stage import DiffusionStage, DiffusionStyle
from livefx.models.registry import available_styles

from ..frame import now_ns
from ..stages.style import describe
from . import protocol

if TYPE_CHECKING:
    from ..pipeline import Pipeline
    from .audio_out import ProcessedAudioTrack
    from .bridge import ProcessedTrack, TrackSource
    from .pipelines import BroadcastHub
    from .settings import SessionSettings

log = logging.getLogger("livefx.server")


def hello_event(settings: SessionSettings, broadcast: bool, look: dict | None = None) -> str:
    """The ``hello`` event a client gets on connecting: the style menu (the style networks, and
    the diffusion model the server loaded if any), the running style, the budget, the mode, the
    interpolation factor (0: off), the output's mix and mirror (``look``: a running broadcast's;
    else what streams start with), and the prompt settings streams start with (None without a
    diffusion style)."""
    style = settings.style
    diffusion = None
    if isinstance(style, DiffusionStyle):
        o = style.options
        diffusion = {"prompt": o.prompt, "strength": o.strength, "seed": o.seed, "steps": list(o.step_choices)}
    return protocol.event(
        "hello",
        styles=sorted(available_styles()) + ([style.name] if isinstance(style, DiffusionStyle) else []),
        style=describe(style),
        budget_ms=settings.budget_ms,
        mode="broadcast" if broadcast else "send-receive",
        interpolation=settings.motion.factor if settings.motion.active else 0,
        mix=look["mix"] if look else settings.mix,
        mirror=look["mirror"] if look else settings.mirror,
        diffusion=diffusion,
    )


def prompt_event(pipeline: Pipeline) -> str:
    """The ``prompt`` event: the running diffusion settings (all None without a diffusion style)."""
    stage = pipeline.style_stage()  # its settings only: no whole stats snapshot on the loop
    state = stage.live_state() if isinstance(stage, DiffusionStage) else {}
    return protocol.event("prompt", prompt=state.get("prompt"), strength=state.get("strength"), seed=state.get("seed"))


def metrics_event(
    pipeline: Pipeline,
    source: TrackSource | None = None,
    out_track: ProcessedTrack | None = None,
    audio_out: ProcessedAudioTrack | None = None,
    outputs: dict | None = None,
) -> str:
    """The ``metrics`` event: the pipeline's figures, and what a session's own tracks measured.
    ``sound_after_picture_ms``: how much later after capture the sound leaves than the picture
    (its own path's floor, when the picture is quicker): the page holds the picture that much more."""
    snap = pipeline.snapshot()
    to_send = out_track.capture_to_send.median(now_ns()) if out_track is not None else None
    sound_after = None
    if audio_out is not None and audio_out.follower.target_ms is not None and to_send is not None:
        sound_after = round(max(0.0, audio_out.delay.delay_ms - to_send), 2)
    return protocol.event(
        "metrics",
        frames_in=snap["frames_in"],
        frames_out=snap["frames_out"],
        frames_dropped=snap["frames_dropped"],
        latency_ms=snap["latency_ms"],
        stages=snap["stages"],
        decisions=snap["decisions"],
        degraded=snap["degraded"],
        stage_errors=snap["stage_errors"],
        last_stage_error=snap["last_stage_error"],
        disabled_stages=snap["disabled_stages"],
        capture_to_send_ms=round(to_send, 2) if to_send is not None else 0.0,
        replaced_before_processing=source.replaced_unread if source else 0,
        input_size=list(source.sent_size) if source else None,
        input_scaled_down=source.scaled_down if source else 0,
        input_refused_small=source.refused_small if source else 0,
        replaced_before_send=out_track.replaced_unsent if out_track else 0,
        budget_ms=snap["budget_ms"],
        on_late=snap["on_late"],
        steps=snap.get("steps", {}),
        diffusion=snap.get("diffusion"),
        source_fps=snap.get("source_fps"),
        sound_after_picture_ms=sound_after,
        outputs=outputs,
        output=snap["output"],
    )


async def report_hub(hub: BroadcastHub, publish: Callable[[str], Awaitable[None]], every_s: float) -> None:
    """A broadcast's labels and figures to every observer (the OBS overlay), every ``every_s``
    seconds for as long as it runs, whether or not anyone watches the video."""
    last_labels, failed = None, False
    while True:
        await asyncio.sleep(every_s)
        pipeline = hub.pipeline
        if pipeline.worker is None:
            continue  # a file waits for its first viewer
        try:
            actions = pipeline.actions
            if actions is not None and actions.latest is not None and actions.latest is not last_labels:
                last_labels = actions.latest
                await publish(protocol.event("labels", **last_labels.to_json()))
            await publish(metrics_event(pipeline))
        except Exception as exc:  # noqa: BLE001 - the overlay misses one report, the broadcast goes on
            if not failed:
                log.warning("reporting the broadcast to observers failed: %s", protocol.first_line(exc))
            failed = True
