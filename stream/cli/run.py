"""``livefx run``: frames from one source through the engine to sinks, in this process."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UsageError
from ..scheduling.budget import OnLate
from .builders import action_setup, check_files, engine_converter, load_engine_style, motion_config
from .control import Run, live_control
from .options import (
    add_action_args,
    add_diffusion_args,
    add_engine_args,
    add_io_args,
    add_motion_args,
    add_output_args,
    check_action_args,
    check_engine_args,
)
from .signals import handling_stop_signals, stop_during_startup

if TYPE_CHECKING:
    from ..device import FrameConverter
    from ..pipeline import Pipeline
    from ..sinks.base import Sink
    from ..stages.motion import MotionStage

log = logging.getLogger("livefx")

RUN_EPILOG = """\
examples:
  livefx run --source synthetic --sink file:out.mp4 --frames 150 --size 320x240 --stats s.json
  livefx run --source webcam:0 --sink virtualcam --style pointilism
  livefx run --source webcam:0 --mic default --sink virtualcam --sink virtualmic
  livefx run --source file:clip.mp4 --no-realtime --sink file:styled.mp4 --style candy.pth
  livefx run --source webcam:0 --sink virtualcam --style sd:models/sd-turbo --prompt "a watercolor painting"
  livefx run --source webcam:0 --sink virtualcam --sink window --control tcp:8765 --mirror

In real time (the default) frames that arrive while the worker is busy are dropped and
counted, and the budget planner lowers quality (optional work skipped, smaller processing
scale) when a frame would miss its deadline (capture time + --budget-ms); when even the
cheapest plan misses it, --on-late says what the frame gets (default: processed anyway).
--no-realtime processes every frame in order instead: for offline rendering and tests.

Live control (--control stdin, --control tcp:PORT, the window sink's keys), one command a line,
applied between two frames: style NAME|N (N as livefx weights numbers them), next, prev,
mix 0..1, mix +0.1, mix -0.1, effect on|off|toggle (off: mix 0, the mix kept), mirror
on|off|toggle, budget MS, interpolate on|off, help. Each gets one reply line: ok or the error.
Window keys: 1-9 styles, + and - mix, e effect, m mirror, n and p next and previous style, q or
Esc stops the run.
"""


def add_run_command(sub: argparse._SubParsersAction) -> None:
    """The ``run`` subcommand and its options."""
    run = sub.add_parser(
        "run",
        help="process a stream from a source to sinks",
        description="Process frames from a source through the style model to one or more sinks.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_io_args(
        run,
        source_default="synthetic",
        source_help="synthetic | file:PATH | webcam[:N] (default: synthetic)",
        sink_help="null | file:PATH.{mp4,mkv,y4m} | virtualcam[:DEVICE] | virtualmic[:NAME] (the sound, delayed"
        " to match the picture) | window; repeat for several (default: null)",
    )
    add_engine_args(
        run,
        style_help="style weights: a .pth/.safetensors file, a shipped style's name (livefx weights lists them),"
        " a name from LIVEFX_STYLE_PATH, or none for the raw camera",
        size_default=None,
        size_help="processing size; frames are rescaled to it (default: the source's)",
    )
    run.add_argument(
        "--fps",
        type=float,
        metavar="N",
        help="source rate: synthetic pacing, re-timing for files, camera request",
    )
    run.add_argument("--frames", type=int, metavar="N", help="stop after N source frames")
    run.add_argument(
        "--realtime",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="drop stale frames to keep latency bounded (default); --no-realtime processes every frame",
    )
    add_diffusion_args(run)
    add_motion_args(run)
    add_action_args(run, outputs=True)
    run.add_argument(
        "--control",
        action="append",
        default=[],
        metavar="stdin|tcp:PORT",
        help="take live commands (below) from stdin, replies on stderr (its end stops only the"
        " listening), or from TCP clients on 127.0.0.1:PORT (this machine only; e.g. printf"
        " 'style candy\\n' | nc 127.0.0.1 PORT); repeat for both (default: none)",
    )
    run.add_argument("--stats", type=Path, metavar="PATH.json", help="write run statistics here at exit")
    run.add_argument(
        "--log-every",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds between live stats lines; 0 turns them off (default: 2)",
    )
    add_output_args(run)
    run.set_defaults(func=cmd_run)


def write_stats(path: Path, document: dict) -> bool:
    """``--stats``: the JSON at ``path``; when that fails after all (the disk filled, the folder
    went away), the figures go to stderr under the reason instead of being lost."""
    text = json.dumps(document, indent=2) + "\n"
    try:
        path.write_text(text)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"livefx: error: --stats {path}: cannot write ({reason}); the statistics follow:", file=sys.stderr)
        sys.stderr.write(text)
        return False
    return True


def motion_stage(args: argparse.Namespace, converter: FrameConverter) -> MotionStage | None:
    """The interpolation/stabilization stage for ``run`` (None when not asked for)."""
    from livefx.models.registry import resolve_rife

    from ..stages.motion import build_motion_stage

    config = motion_config(args)
    return build_motion_stage(resolve_rife(args.rife), config, converter, args.backend) if config.active else None


def cmd_run(args: argparse.Namespace) -> int:

    from ..pipeline import Pipeline, PipelineConfig
    from ..sinks.null import NullSink
    from ..sources import make_source
    from ..stages.style import style_stages

    size = check_engine_args(args)
    if args.fps is not None and args.fps <= 0:
        raise UsageError(f"--fps {args.fps:g}: must be positive")
    if args.frames is not None and args.frames <= 0:
        raise UsageError(f"--frames {args.frames}: must be positive")
    check_action_args(args)
    source = make_source(args.source, size, args.fps, loop=args.loop, mic=args.mic)
    sinks = check_files(args, source) or [NullSink()]
    converter = engine_converter(args)
    config = PipelineConfig(
        budget_ms=args.budget_ms,
        on_late=OnLate(args.on_late),
        realtime=args.realtime,
        fps=args.fps,
        max_frames=args.frames,
        size=size,
        fit=args.fit,
        backend=args.backend,
        threads=args.threads,
        carry=args.carry,
        mix=args.mix,
        mirror=args.mirror,
    )

    def load() -> tuple[Pipeline, int, int]:
        style = load_engine_style(args, converter)
        stages = style_stages(style, converter, args.backend)
        motion = motion_stage(args, converter)
        action_model, actions_config, rules = action_setup(args, motion is not None)
        pipeline = Pipeline(source, sinks, stages, converter, config, motion, action_model, actions_config)
        pipeline.live.loaded = style
        if rules:
            from ..stages.rules import RuleEngine

            pipeline.label_listeners.append(RuleEngine(rules, pipeline.run_rule_action, args.on_cooldown))
        pipeline.draw_labels = args.draw_labels
        return pipeline, *pipeline.open()

    with live_control(args.control) as start_control:  # a taken port fails here, before models load
        return _stream(args, load, sinks, start_control)


def _stream(
    args: argparse.Namespace,
    load: Callable[[], tuple[Pipeline, int, int]],
    sinks: list[Sink],
    start_control: Callable[[Run], None],
) -> int:
    """Load (off the main thread, which then only waits: see own_thread), take commands, run."""
    from ..process import freeze_startup_heap
    from ..scheduling.own_thread import run_on_own_thread
    from ..stages.actions import LabelLog

    with stop_during_startup():
        pipeline, width, height = run_on_own_thread(load, "livefx-load")
    start_control(command_runner(pipeline, sinks))
    source = pipeline.source
    log.info(
        "%s -> %s at %dx%d, %.3g fps, on %s",
        source.spec,
        ", ".join(s.spec for s in sinks),
        width,
        height,
        args.fps or source.fps,
        pipeline.stats.device,
    )
    label_log = LabelLog(args.events) if args.events else None
    if label_log is not None:
        pipeline.label_listeners.append(label_log)
    freeze_startup_heap()
    stats_written = True
    try:
        with stop_run_on_signals(pipeline):
            stats = pipeline.run(log_every_s=args.log_every)
    finally:
        if label_log is not None:
            label_log.close()
        if args.stats:
            stats_written = write_stats(args.stats, pipeline.snapshot())
    log.info("done: %s", pipeline.stats.log_line(None, 1.0).split(" | ", 1)[1])
    log.info("frames in %d, out %d, dropped %d", stats["frames_in"], stats["frames_out"], stats["frames_dropped"])
    return 1 if pipeline.sink_errors or not stats_written else 0


def command_runner(pipeline: Pipeline, sinks: list[Sink]) -> Run:
    """The live commands for this run (``--control``, the window's keys): one runner, which
    every front end hands its lines to; the window's q or Esc stops the run."""
    from ..scheduling.commands import CommandRunner
    from ..sinks.window import WindowSink
    from ..stages.style import describe

    runner = CommandRunner(pipeline.live, describe(pipeline.live.loaded), pipeline.look.settings)
    for sink in sinks:
        if isinstance(sink, WindowSink):
            sink.commands = runner.run
            sink.on_quit = lambda: setattr(pipeline, "stop_requested", "the window's quit key")
    return runner.run


@contextlib.contextmanager
def stop_run_on_signals(pipeline: Pipeline) -> Iterator[None]:
    """While ``run`` streams, SIGTERM (what supervisors send) and SIGHUP (unless started
    with it ignored) stop it as Ctrl-C does: capture stops, what is in flight reaches the
    sinks, recordings are finalised. A third signal exits at once. The handler only sets
    flags (``Pipeline.join`` acts on them); the previous handlers come back afterwards."""
    import os
    import signal

    received: list[str] = []

    def stopping(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum).name)
        if len(received) >= 3:
            os._exit(128 + signum)  # asked three times: the user wants out, outputs or not
        pipeline.stop_requested = received[0]

    with handling_stop_signals(stopping):
        yield
