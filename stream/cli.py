"""The ``livefx`` command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from livefx.models.accel import BACKENDS, DTYPES

from . import __version__
from .budget import OnLate
from .diffusion_args import add_diffusion_args, load_engine_style
from .errors import LivefxError, UsageError
from .fit import FITS
from .motion import FLOW_METHODS
from .signals import stop_during_startup

if TYPE_CHECKING:
    import asyncio
    import ssl

    from livefx.models.action import ActionModel

    from .actions import ActionsConfig
    from .device import FrameConverter
    from .motion import MotionConfig, MotionStage
    from .pipeline import Pipeline
    from .rules import Rule
    from .sinks.base import Sink
    from .sources.base import Source

log = logging.getLogger("livefx")

RUN_EPILOG = """\
examples:
  livefx run --source synthetic --sink file:out.mp4 --frames 150 --size 320x240 --stats s.json
  livefx run --source webcam:0 --sink virtualcam --style pointilism
  livefx run --source file:clip.mp4 --no-realtime --sink file:styled.mp4 --style candy.pth
  livefx run --source webcam:0 --sink virtualcam --style sd:models/sd-turbo --prompt "a watercolor painting"

In real time (the default) frames that arrive while the worker is busy are dropped and
counted, and the budget planner lowers quality (optional work skipped, smaller processing
scale) when a frame would miss its deadline (capture time + --budget-ms); when even the
cheapest plan misses it, --on-late says what the frame gets (default: processed anyway).
--no-realtime processes every frame in order instead: for offline rendering and tests.
"""


#: The largest frame side accepted: beyond 8K a frame is a mistake, not a video.
MAX_SIDE = 8192


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` with both even and positive (4:2:0 video needs even sizes)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--size {text}: expected WIDTHxHEIGHT, e.g. 640x480") from None
    if w <= 0 or h <= 0:
        raise UsageError(f"--size {text}: width and height must be positive, e.g. 640x480")
    if w > MAX_SIDE or h > MAX_SIDE:
        raise UsageError(f"--size {text}: at most {MAX_SIDE} pixels a side (8K video is 7680x4320)")
    if w % 2 or h % 2:
        raise UsageError(f"--size {text}: width and height must be even (4:2:0 video needs it); use {w & ~1}x{h & ~1}")
    return w, h


def add_engine_args(
    parser: argparse.ArgumentParser, *, style_help: str, size_default: str | None, size_help: str
) -> None:
    """--style, --size, --budget-ms, --device, --backend, --precision: shared by run and serve
    (checked by ``check_engine_args``)."""
    parser.add_argument(
        "--style",
        default="default",
        metavar="PATH|NAME|sd:FOLDER|default|none",
        help=style_help + "; sd:FOLDER runs a diffusers img2img model such as sd-turbo (see the diffusion options)"
        " (default: default, the shipped default: rain_princess)",
    )
    parser.add_argument("--size", default=size_default, metavar="WxH", help=size_help)
    parser.add_argument(
        "--fit",
        default="pad",
        choices=FITS,
        help="how frames of another shape meet --size: pad (letterbox), crop (fill, cut the edges)"
        " or stretch (default: pad)",
    )
    parser.add_argument(
        "--budget-ms",
        type=float,
        default=100.0,
        metavar="MS",
        help="per-frame latency budget from capture to sink (default: 100)",
    )
    parser.add_argument(
        "--on-late",
        default=OnLate.BEST_EFFORT.value,
        choices=[o.value for o in OnLate],
        help="when even the cheapest plan (lowest scale, optional work skipped) misses the budget:"
        " best-effort processes the frame anyway (late; frames that arrive meanwhile are dropped),"
        " hold repeats the last processed frame, passthrough sends the raw frame (default: best-effort)",
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default: auto)")
    parser.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help="model form: eager, torch.compile (CUDA graphs on GPU), torch-tensorrt, openvino (CPU);"
        " auto = compile on CUDA; on the CPU, OpenVINO or eager, whichever measures faster per model"
        " at warm-up (default: auto)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads for the models, fixed (e.g. 1 to leave a core to OBS or a call app);"
        " default: tuned between frames from the engine's own timings, fewer when other programs"
        " take the cores",
    )
    parser.add_argument(
        "--precision",
        default="auto",
        choices=list(DTYPES),
        help="compute precision; auto = fp16 on CUDA; on the CPU bf16 inside OpenVINO where the CPU has"
        " bf16 units (never for motion), fp32 otherwise; fp32 forces fp32 in every runtime (default: auto)",
    )


def check_engine_args(args: argparse.Namespace) -> tuple[int, int] | None:
    """Validate the shared engine options; returns the parsed --size (None: the source's)."""
    if not args.budget_ms > 0:
        raise UsageError(f"--budget-ms {args.budget_ms:g}: must be positive")
    if args.threads is not None and not 1 <= args.threads <= 1024:
        raise UsageError(f"--threads {args.threads}: must be 1 or more")
    return parse_size(args.size) if args.size else None


def add_motion_args(parser: argparse.ArgumentParser) -> None:
    """--interpolate, --stabilize and --rife, shared by run and serve."""
    parser.add_argument(
        "--interpolate",
        type=int,
        nargs="?",
        const=2,
        default=1,
        metavar="N",
        help="emit N frames per input frame: N-1 in-between frames, the previous and current output"
        " moved along the motion that --flow finds (on a CPU with the embedded weights: OpenCV DIS"
        " optical flow; on a GPU or with your own --rife weights: the RIFE network);"
        " plain --interpolate means 2 (default: 1, off)",
    )
    parser.add_argument(
        "--stabilize",
        action="store_true",
        help="reduce style flicker: blend in the previous output, moved by the flow between inputs",
    )
    parser.add_argument(
        "--rife",
        default="default",
        metavar="PATH|default",
        help="the RIFE network's weights, used when --flow is rife, or auto on a GPU or with weights"
        " given here: RIFE v4.6 flownet.pkl or a livefx .safetensors (default: the embedded one trained by livefx)",
    )
    parser.add_argument(
        "--flow",
        choices=FLOW_METHODS,
        default="auto",
        help="what finds the motion for --interpolate/--stabilize: rife (the --rife weights),"
        " dis-fast or dis-medium (OpenCV DIS optical flow on the CPU, no weights); auto (default):"
        " dis-fast on a CPU device with the embedded interpolator (cheaper and sharper there), else rife",
    )


def add_action_args(parser: argparse.ArgumentParser, *, outputs: bool) -> None:
    """--actions and --actions-every; with ``outputs`` (run) also what hangs off the labels:
    label events, drawn labels, label-triggered rules (serve sends labels to the page)."""
    parser.add_argument(
        "--actions",
        metavar="DIR|default",
        help="turn on action labels: a VideoMAE folder (config.json + weights, e.g. a Kinetics-400"
        " checkpoint saved with save_pretrained), or 'default' for the embedded motion model (off unless given)",
    )
    parser.add_argument(
        "--actions-every",
        type=int,
        default=8,
        metavar="N",
        help="classify the newest clip every N frames, when the budget allows (default: 8)",
    )
    if not outputs:
        parser.set_defaults(events=None, draw_labels=False, on=[], on_cooldown=3.0)
        return
    parser.add_argument("--events", type=Path, metavar="PATH.jsonl", help="write each label update as a JSON line")
    parser.add_argument("--draw-labels", action="store_true", help="burn the current labels into the video")
    parser.add_argument(
        "--on",
        action="append",
        default=[],
        metavar="RULE",
        help="LABEL>SCORE=ACTION:ARG, e.g. zoom_in>0.8=style:pointilism or still>0.9=interpolate:off;"
        " actions style:NAME|none and interpolate:on|off|toggle; repeat for several",
    )
    parser.add_argument(
        "--on-cooldown", type=float, default=3.0, metavar="S", help="seconds a rule rests after firing (default: 3)"
    )


def add_overwrite_arg(parser: argparse.ArgumentParser) -> None:
    """-y/--overwrite: replace existing files behind --sink file: (refused without it)."""
    parser.add_argument(
        "-y",
        "--overwrite",
        action="store_true",
        help="replace a file that already exists behind --sink file:PATH (default: refuse it, keeping the file);"
        " a sink that is the source file is refused even so",
    )


def add_output_args(parser: argparse.ArgumentParser) -> None:
    """-q and -v: how much the log says."""
    volume = parser.add_mutually_exclusive_group()
    volume.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    volume.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more detail: -v adds the libraries' own lines (websockets, aiortc, ICE), -vv debug lines",
    )


def configure_logging(verbose: int, quiet: bool) -> None:
    """livefx's own lines at INFO (one per session event, a stats line now and then); the
    libraries' per-request and ICE lines only with -v."""
    logging.basicConfig(
        level=logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING,
        format="%(name)s: %(message)s" if verbose else "livefx: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("livefx").setLevel(logging.WARNING if quiet else logging.DEBUG if verbose > 1 else logging.INFO)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livefx", description="Real-time streaming video filter.")
    parser.add_argument("--version", action="version", version=f"livefx {__version__}")
    parser.set_defaults(verbose=0, quiet=False)  # for the commands without -q/-v
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="process a stream from a source to sinks",
        description="Process frames from a source through the style model to one or more sinks.",
        epilog=RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--source",
        default="synthetic",
        metavar="SPEC",
        help="synthetic | file:PATH | webcam[:N] (default: synthetic)",
    )
    run.add_argument(
        "--loop", action="store_true", help="start a file: source again at its end (default: play it once)"
    )
    run.add_argument(
        "--sink",
        action="append",
        metavar="SPEC",
        help="null | file:PATH.{mp4,mkv,y4m} | virtualcam[:DEVICE] | window; repeat for several (default: null)",
    )
    add_overwrite_arg(run)
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
    run.add_argument("--stats", type=Path, metavar="PATH.json", help="write run statistics here at exit")
    run.add_argument(
        "--log-every",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds between live stats lines; 0 turns them off (default: 2)",
    )
    add_output_args(run)
    srv = sub.add_parser(
        "serve",
        help="serve the web client: browser camera in, processed video back (WebRTC)",
        description="Serve the browser client and WebRTC on one port. Open the printed URL, allow the"
        " camera, and see yourself processed in real time.",
    )
    srv.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default: 127.0.0.1, this machine only); any other address requires a token",
    )
    srv.add_argument("--port", type=int, default=8080, help="port (default: 8080; 0 picks a free one)")
    srv.add_argument("--token", help="access token; generated and printed when --host is not loopback")
    srv.add_argument(
        "--https",
        action="store_true",
        help="serve HTTPS (a phone or another computer only grants its camera to a secure page):"
        " a self-signed certificate is made on first use, or give --cert and --key",
    )
    srv.add_argument("--cert", type=Path, metavar="PEM", help="TLS certificate (chain) for --https")
    srv.add_argument("--key", type=Path, metavar="PEM", help="TLS private key for --https")
    srv.add_argument(
        "--tls-dir",
        type=Path,
        metavar="DIR",
        help="where the self-signed certificate is kept (default: ~/.cache/livefx/tls)",
    )
    srv.add_argument(
        "--source",
        default="browser",
        metavar="SPEC",
        help="browser: each client sends its camera and gets it back processed (default);"
        " synthetic | file:PATH | webcam[:N]: processed once, broadcast to every client",
    )
    srv.add_argument(
        "--loop", action="store_true", help="start a file: source again at its end (default: play it once)"
    )
    srv.add_argument(
        "--sink",
        action="append",
        metavar="SPEC",
        help="with a server-side --source, also send the processed stream to file:PATH.{mp4,mkv,y4m} |"
        " virtualcam[:DEVICE] | window (the page is then its control panel); repeat for several",
    )
    add_overwrite_arg(srv)
    add_engine_args(
        srv,
        style_help="initial style; the page's menu switches it live",
        size_default="640x480",
        size_help="broadcast: the source is scaled to it; browser: the size models warm up for (default: 640x480)",
    )
    srv.add_argument("--codec", default="vp8", choices=["vp8", "h264"], help="video codec sent back (default: vp8)")
    srv.add_argument(
        "--bitrate",
        type=int,
        default=2_500_000,
        metavar="BPS",
        help="video bitrate ceiling in bits/s; aiortc's own cap is 1.5 Mbit/s (default: 2500000)",
    )
    add_diffusion_args(srv)
    add_motion_args(srv)
    add_action_args(srv, outputs=False)
    add_output_args(srv)
    srv.add_argument("--max-sessions", type=int, default=4, help="concurrent clients before 'busy' (default: 4)")
    run.set_defaults(func=cmd_run)
    srv.set_defaults(func=cmd_serve)
    sub.add_parser(
        "weights",
        help="list the styles livefx can load by name",
        description="List the embedded styles (and any found in LIVEFX_STYLE_PATH) with their size"
        " and the quality figures from their model cards.",
    ).set_defaults(func=cmd_weights)
    return parser


def print_other_models() -> None:
    """The embedded interpolator and action model, with their card figures."""
    from livefx.models.registry import DEFAULT_ACTIONS, DEFAULT_RIFE, describe_actions, describe_rife

    if DEFAULT_RIFE.is_file():
        info = describe_rife(DEFAULT_RIFE)
        figures = ", ".join(f"{k} {v['psnr_mean']:.2f} dB" for k, v in info.get("held_out", {}).items())
        print(f"interpolator (--rife default) {info['size_kb']:.0f}KB  held-out PSNR: {figures}  {DEFAULT_RIFE}")
    if (DEFAULT_ACTIONS / "training.json").is_file():
        info = describe_actions(DEFAULT_ACTIONS)
        accuracy = 100 * info["held_out"]["accuracy"]
        print(
            f"actions (--actions default) {info['size_kb']:.0f}KB  held-out accuracy {accuracy:.1f}%  {DEFAULT_ACTIONS}"
        )
    print()


def cmd_weights(args: argparse.Namespace) -> int:
    from livefx.models.registry import DEFAULT_STYLE, EMBEDDED_STYLES_DIR, available_styles, describe_style

    print_other_models()
    styles = available_styles()
    if not styles:
        print("no styles found; the shipped ones live in models/weights/styles/")
        return 0
    rows = []
    for name, path in styles.items():
        info = describe_style(path)
        held_out = info.get("held_out", info)
        mark = " (default)" if name == DEFAULT_STYLE and path.parent == EMBEDDED_STYLES_DIR else ""
        score = f"{held_out['score']:.2f}" if "score" in held_out else "-"
        psnr = f"{held_out['psnr_mean']:.1f}/{held_out['psnr_worst']:.1f} dB" if "psnr_mean" in held_out else "-"
        ssim = f"{held_out['ssim_mean']:.3f}" if "ssim_mean" in held_out else "-"
        gmacs = f"{info['gmacs_640x480']:.1f}" if "gmacs_640x480" in info else "-"
        size = f"{path.stat().st_size / 1024:.0f}KB"
        rows.append([name + mark, size, str(info["kind"]), score, psnr, ssim, gmacs, str(path)])
    print("\n".join(table(WEIGHTS_COLUMNS, rows)))
    return 0


#: The ``livefx weights`` table: (header, alignment) per column; numbers align right.
WEIGHTS_COLUMNS = [
    ("style", "<"),
    ("size", ">"),
    ("kind", "<"),
    ("score", ">"),
    ("PSNR mean/worst", ">"),
    ("SSIM mean", ">"),
    ("GMAC 640x480", ">"),
    ("path", "<"),
]


def table(columns: list[tuple[str, str]], rows: list[list[str]]) -> list[str]:
    """Lines of a plain-text table: each column as wide as its widest cell (header included),
    two spaces between columns, the last column unpadded."""
    widths = [max([len(header), *(len(row[i]) for row in rows)]) for i, (header, _) in enumerate(columns)]
    lines = []
    for cells in [[header for header, _ in columns], *rows]:
        padded = [f"{cell:{align}{width}}" for cell, (_, align), width in zip(cells, columns, widths)]
        lines.append("  ".join(padded).rstrip())
    return lines


def action_setup(args: argparse.Namespace, has_motion: bool) -> tuple[ActionModel | None, ActionsConfig, list[Rule]]:
    """The action model, its schedule and the label rules that the flags ask for."""
    from .actions import ActionsConfig

    check_action_args(args)
    config = ActionsConfig(every_frames=args.actions_every)
    if args.actions is None:
        return None, config, []
    from livefx.models.action import load_action_model
    from livefx.models.registry import resolve_actions, resolve_style

    from .rules import parse_rule

    log.info("loading action model %s ...", args.actions)
    model = load_action_model(resolve_actions(args.actions))
    rules = [parse_rule(text, model.labels) for text in args.on]
    for rule in rules:
        if rule.action == "style":
            resolve_style(rule.argument)  # an unknown style fails now, not when the rule fires
        if rule.action == "interpolate" and not has_motion:
            raise UsageError(f"--on {rule.text!r}: needs --interpolate or --stabilize")
    return model, config, rules


def check_action_args(args: argparse.Namespace) -> None:
    """The action flags that need no model: checked before anything loads."""
    if args.actions_every < 1:
        raise UsageError(f"--actions-every {args.actions_every}: must be at least 1")
    needs = [
        flag for flag, on in (("--events", args.events), ("--draw-labels", args.draw_labels), ("--on", args.on)) if on
    ]
    if args.actions is None and needs:
        raise UsageError(f"{needs[0]} needs --actions (e.g. --actions default)")


def check_files(args: argparse.Namespace, source: Source | None) -> list[Sink]:
    """Everything a run reads and writes, checked before any model loads (see
    ``stream/preflight.py``), then the sinks: a file source opens (a folder, text or an empty
    file fails here); no output may be the source file or another output; file sinks
    refuse an existing file without --overwrite; every output's folder takes new files."""
    from .preflight import check_distinct, check_output_file, file_sink_path, file_source_path
    from .sinks import make_sink
    from .sources.file import FileSource

    if isinstance(source, FileSource):
        source.check()
    specs = args.sink or []
    outputs = [(f"--sink {spec}", path) for spec in specs if (path := file_sink_path(spec)) is not None]
    for flag in ("stats", "events"):
        path = getattr(args, flag, None)
        if path is not None:
            outputs.append((f"--{flag} {path}", path))
    check_distinct(file_source_path(args.source), outputs)
    sinks = [make_sink(spec, overwrite=args.overwrite) for spec in specs]
    for what, path in outputs:
        if not what.startswith("--sink"):  # the sinks checked their own
            check_output_file(path, what)
    return sinks


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


def motion_config(args: argparse.Namespace) -> MotionConfig:
    """What ``--interpolate``/``--stabilize`` ask for."""
    from .motion import MotionConfig

    if not 1 <= args.interpolate <= 8:
        raise UsageError(f"--interpolate {args.interpolate}: must be 1-8")
    return MotionConfig(factor=args.interpolate, stabilize=args.stabilize, flow=args.flow)


def motion_stage(args: argparse.Namespace, converter: FrameConverter) -> MotionStage | None:
    """The interpolation/stabilization stage for ``run`` (None when not asked for)."""
    from livefx.models.registry import resolve_rife

    from .motion import build_motion_stage

    config = motion_config(args)
    return build_motion_stage(resolve_rife(args.rife), config, converter, args.backend) if config.active else None


def cmd_run(args: argparse.Namespace) -> int:
    from livefx.models.accel import resolve_dtype

    from .actions import LabelLog
    from .device import FrameConverter, resolve_device
    from .own_thread import run_on_own_thread
    from .pipeline import Pipeline, PipelineConfig
    from .process import freeze_startup_heap
    from .sinks.null import NullSink
    from .sources import make_source
    from .style import style_stages

    size = check_engine_args(args)
    if args.fps is not None and args.fps <= 0:
        raise UsageError(f"--fps {args.fps:g}: must be positive")
    if args.frames is not None and args.frames <= 0:
        raise UsageError(f"--frames {args.frames}: must be positive")
    check_action_args(args)
    source = make_source(args.source, size, args.fps, loop=args.loop)
    sinks = check_files(args, source) or [NullSink()]
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.precision, device)
    converter = FrameConverter(device, dtype, args.precision)
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
    )

    def load() -> tuple[Pipeline, int, int]:
        stages = style_stages(load_engine_style(args, converter), converter, args.backend)
        motion = motion_stage(args, converter)
        action_model, actions_config, rules = action_setup(args, motion is not None)
        pipeline = Pipeline(source, sinks, stages, converter, config, motion, action_model, actions_config)
        if rules:
            from .rules import RuleEngine

            pipeline.label_listeners.append(RuleEngine(rules, pipeline.run_rule_action, args.on_cooldown))
        pipeline.draw_labels = args.draw_labels
        return pipeline, *pipeline.open()

    # Models load and warm up off the main thread, which then only waits (see own_thread).
    with stop_during_startup():
        pipeline, width, height = run_on_own_thread(load, "livefx-load")
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

    previous = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if sig == signal.SIGTERM or signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, stopping)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The TLS context --https, --cert and --key ask for (None: plain HTTP)."""
    from .server import tls
    from .server.security import reachable_hosts

    if (args.cert is None) != (args.key is None):
        raise UsageError("--cert and --key go together (or give neither for a self-signed certificate)")
    if args.cert is None and not args.https:
        return None
    if args.cert is None:
        folder = args.tls_dir or tls.default_tls_dir()
        try:
            cert, key = tls.self_signed(folder, reachable_hosts(args.host))
        except OSError as exc:
            raise UsageError(
                f"--tls-dir {folder}: cannot keep the certificate there ({exc.strerror or exc}); give another --tls-dir"
            ) from None
        log.info("HTTPS with a self-signed certificate (%s): browsers ask once to accept it", cert)
    else:
        cert, key = args.cert, args.key
    return tls.server_context(cert, key)


def stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """SIGTERM (what supervisors send), and SIGINT/SIGHUP unless this process was started
    with them ignored (nohup, a background job), stop ``serve`` gracefully: sessions
    closed, outputs finalised."""
    import signal

    def stopping(name: str) -> None:
        log.info("stopping (%s): closing sessions and outputs ...", name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        if sig == signal.SIGTERM or signal.getsignal(sig) is not signal.SIG_IGN:
            loop.add_signal_handler(sig, stopping, sig.name)


def cmd_serve(args: argparse.Namespace) -> int:
    import asyncio
    import errno

    from livefx.models.accel import resolve_dtype
    from livefx.models.registry import resolve_rife

    from .device import FrameConverter, resolve_device
    from .process import freeze_startup_heap
    from .server.app import LivefxServer
    from .server.session import SessionSettings
    from .sources import make_source

    size = check_engine_args(args)
    if args.sink and args.source == "browser":
        raise UsageError(f"--sink {args.sink[0]}: needs a server-side --source (synthetic, file:PATH, webcam[:N])")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: must be 0-65535")
    check_action_args(args)
    source = None if args.source == "browser" else make_source(args.source, size, None, loop=args.loop)
    sinks = check_files(args, source)
    tls = tls_context(args)  # a certificate problem fails now, before models load
    from .server.codecs import set_video_bitrate

    set_video_bitrate(args.bitrate)
    with stop_during_startup():  # models load here: a stop signal ends the start cleanly
        device = resolve_device(args.device)
        converter = FrameConverter(device, resolve_dtype(args.precision, device), args.precision)
        settings = SessionSettings(
            converter,
            load_engine_style(args, converter),
            budget_ms=args.budget_ms,
            on_late=OnLate(args.on_late),
            size=size,
            fit=args.fit,
            backend=args.backend,
            threads=args.threads,
            codec=args.codec,
            motion=motion_config(args),
        )
        settings.actions, settings.actions_config, _ = action_setup(args, settings.motion.active)
        if settings.motion.active:
            settings.rife = resolve_rife(args.rife)
            settings.motion_stage()  # fail now, not per client, on a missing or bad weights file
    freeze_startup_heap()
    server = LivefxServer(
        settings,
        host=args.host,
        port=args.port,
        token=args.token,
        max_sessions=args.max_sessions,
        source=source,
        sinks=sinks,
        tls=tls,
    )

    async def run() -> None:
        ready, stop = asyncio.Event(), asyncio.Event()
        stop_on_signals(asyncio.get_running_loop(), stop)
        task = asyncio.ensure_future(server.serve(ready, stop))
        listening = asyncio.ensure_future(ready.wait())
        await asyncio.wait({task, listening}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.is_set():  # the server failed before listening (e.g. the port is taken)
            listening.cancel()
            task.result()
        for page, overlay in zip(server.urls("/"), server.urls("/overlay.html")):
            log.info("open %s in a browser (overlay for OBS: %s)", page, overlay)
        await task

    try:
        asyncio.run(run())
    except OSError as exc:
        reason = {errno.EADDRINUSE: "the port is already in use", errno.EACCES: "permission denied"}.get(
            exc.errno or 0, exc.strerror or str(exc)
        )
        raise LivefxError(f"cannot listen on {args.host}:{args.port}: {reason}; pick another --port") from None
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # the bench is a client of the engine, with a command of its own
        print("livefx: error: the bench is its own command now: livefx-bench [--quick] ...", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    try:
        return args.func(args)
    except LivefxError as exc:
        print(f"livefx: error: {exc.for_cli()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
