"""The command line's option groups, each declared once and shared by ``livefx run`` and
``livefx serve`` (with the checks that need no model beside them)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from livefx.models.accel import BACKENDS, DTYPES
from livefx.models.diffusion.stage import DEFAULT_STEPS

from ..errors import UsageError
from ..scheduling.budget import OnLate, check_budget_ms
from ..sources.fit import FITS
from ..stages.motion import FLOW_METHODS

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


def add_io_args(parser: argparse.ArgumentParser, *, source_default: str, source_help: str, sink_help: str) -> None:
    """--source, --loop, --mic, --sink and -y/--overwrite: where frames (and sound) come from and go to."""
    parser.add_argument("--source", default=source_default, metavar="SPEC", help=source_help)
    parser.add_argument(
        "--loop", action="store_true", help="start a file: source again at its end (default: play it once)"
    )
    parser.add_argument(
        "--mic",
        metavar="default|pulse:NAME",
        help="a microphone as the sound of a live --source (webcam:N), timed on its pictures' clock, so"
        " recordings and virtualmic keep the voice in sync: default (the system's microphone) or a"
        " PulseAudio/PipeWire source by name (pactl list short sources; NAME.monitor records what a sink"
        " plays); Linux, through parec (default: none)",
    )
    parser.add_argument("--sink", action="append", metavar="SPEC", help=sink_help)
    add_overwrite_arg(parser)


def add_overwrite_arg(parser: argparse.ArgumentParser) -> None:
    """-y/--overwrite: replace existing files behind --sink file: (refused without it)."""
    parser.add_argument(
        "-y",
        "--overwrite",
        action="store_true",
        help="replace a file that already exists behind --sink file:PATH (default: refuse it, keeping the file);"
        " a sink that is the source file is refused even so",
    )


def add_engine_args(
    parser: argparse.ArgumentParser, *, style_help: str, size_default: str | None, size_help: str
) -> None:
    """--style, --size, --budget-ms, --device, --backend, --precision, --mix, --mirror: shared
    by run and serve (checked by ``check_engine_args``)."""
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
        "--carry",
        type=int,
        default=2,
        metavar="N",
        help="on the CPU, when the effect cannot keep up at 0.75 scale, run it there on one frame in N"
        " and show the frames between as the last styled one moved along the motion (a few ms each)"
        " before taking 0.5 scale; cuts and fast motion are styled, not carried; never with"
        " --interpolate or --stabilize; 1 = off (default: 2)",
    )
    parser.add_argument(
        "--precision",
        default="auto",
        choices=list(DTYPES),
        help="compute precision; auto = fp16 on CUDA; on the CPU bf16 inside OpenVINO where the CPU has"
        " bf16 units (never for motion), else fp32, or int8 for a style where livefx[int8] is installed and"
        " int8 measures faster and holds the picture; fp32 forces fp32 in every runtime; int8 = the styles"
        " quantized in OpenVINO (CPU; pip install 'livefx[int8]'; said when a style loses visible detail)"
        " (default: auto)",
    )
    parser.add_argument(
        "--mix",
        type=float,
        default=1.0,
        metavar="0..1",
        help="how much of the effect the output shows, blended with the input: 0 the input (as fitted to"
        " --size), 1 the full effect, linear between; in-between frames too; changes live (default: 1)",
    )
    parser.add_argument(
        "--mirror",
        action="store_true",
        help="mirror the output left-right (a selfie-style camera) for every sink: the virtual camera,"
        " recordings, the page's processed picture; the page's own Mirror preview only flips its display;"
        " changes live (default: off)",
    )


def check_engine_args(args: argparse.Namespace) -> tuple[int, int] | None:
    """Validate the shared engine options; returns the parsed --size (None: the source's)."""
    check_budget_ms(args.budget_ms, "--budget-ms")
    if args.threads is not None and not 1 <= args.threads <= 1024:
        raise UsageError(f"--threads {args.threads}: must be 1 or more")
    if not 1 <= args.carry <= 8:
        raise UsageError(f"--carry {args.carry}: must be 1 (off) to 8")
    if not 0.0 <= args.mix <= 1.0:  # NaN too
        raise UsageError(f"--mix {args.mix:g}: must be between 0 (the input) and 1 (the full effect)")
    return parse_size(args.size) if args.size else None


#: Option dest -> flag, for the options that only a diffusion style takes.
DIFFUSION_FLAGS = {
    "prompt": "--prompt",
    "strength": "--strength",
    "seed": "--seed",
    "steps": "--steps",
    "guidance": "--guidance",
    "stream_batch": "--stream-batch",
    "skip_similar": "--skip-similar",
    "vae_tiny": "--vae-tiny",
    "allow_download": "--allow-download",
}


def parse_steps(text: str) -> tuple[int, ...]:
    """``4,2,1`` -> (4, 2, 1)."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: step counts separated by commas, e.g. 4,2,1") from None


def add_diffusion_args(parser: argparse.ArgumentParser) -> None:
    """The ``--style sd:PATH`` options; each refuses to be given with another style (see
    ``cli_setup.load_engine_style``)."""
    group = parser.add_argument_group(
        "diffusion styles (--style sd:PATH, a local diffusers folder such as sd-turbo; needs livefx[diffusion])"
    )
    group.add_argument("--prompt", default=None, help="what the frames should become (default: empty)")
    group.add_argument(
        "--strength",
        type=float,
        default=None,
        help="how far each frame is noised, (0, 1]: low keeps the camera's layout (default: 0.5)",
    )
    group.add_argument("--seed", type=int, default=None, help="the stream's fixed noise (default: 0)")
    group.add_argument(
        "--steps",
        type=parse_steps,
        default=None,
        metavar="N[,N...]",
        help="denoising step counts the budget planner picks from per frame, best first"
        f" (default: {','.join(map(str, DEFAULT_STEPS))}; one count fixes it)",
    )
    group.add_argument(
        "--guidance",
        type=float,
        default=None,
        help="classifier-free guidance scale; 1 = off, right for turbo models (default: 1)",
    )
    group.add_argument(
        "--stream-batch",
        action="store_true",
        default=None,
        help="denoise the last N frames in one UNet call (N = the first --steps count);"
        " more throughput, output N-1 frames late, steps fixed",
    )
    group.add_argument(
        "--skip-similar",
        type=float,
        default=None,
        metavar="SIMILARITY",
        help="repeat the last output when a frame is at least this similar to the last one (e.g. 0.98)",
    )
    group.add_argument(
        "--vae-tiny",
        default=None,
        metavar="PATH",
        help="a diffusers AutoencoderTiny folder (e.g. taesd) to use instead of the model's autoencoder",
    )
    group.add_argument(
        "--allow-download",
        action="store_true",
        default=None,
        help="let diffusers fetch a hub repo id given as sd:ID (default: local folders only)",
    )


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


def check_action_args(args: argparse.Namespace) -> None:
    """The action flags that need no model: checked before anything loads."""
    if args.actions_every < 1:
        raise UsageError(f"--actions-every {args.actions_every}: must be at least 1")
    needs = [
        flag for flag, on in (("--events", args.events), ("--draw-labels", args.draw_labels), ("--on", args.on)) if on
    ]
    if args.actions is None and needs:
        raise UsageError(f"{needs[0]} needs --actions (e.g. --actions default)")


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
