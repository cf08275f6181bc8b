"""What the shared command-line options build, for ``livefx run`` and ``livefx serve``: the
style, the motion settings, the action model and its rules, the checked outputs."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from livefx.models.diffusion.folder import SD_PREFIX
from livefx.models.diffusion.stage import DiffusionOptions

from ..errors import UsageError
from ..stages.style import Style, load_style, pick_style
from .options import DIFFUSION_FLAGS, check_action_args

if TYPE_CHECKING:
    from livefx.models.action import ActionModel

    from ..device import FrameConverter
    from ..sinks.base import Sink
    from ..sources.base import Source
    from ..stages.actions import ActionsConfig
    from ..stages.motion import MotionConfig
    from ..stages.rules import Rule

log = logging.getLogger("livefx")


def engine_converter(args: argparse.Namespace) -> FrameConverter:
    """``--device`` and ``--precision`` as the converter every stage is built for."""
    from livefx.models.accel import resolve_dtype

    from ..device import FrameConverter, resolve_device

    device = resolve_device(args.device)
    return FrameConverter(device, resolve_dtype(args.precision, device), args.precision)


def diffusion_options(args: argparse.Namespace) -> DiffusionOptions:
    """The options the user gave (defaults for the rest), validated."""
    given = {
        name: getattr(args, name)
        for name in ("prompt", "strength", "seed", "steps", "guidance", "stream_batch", "skip_similar")
        if getattr(args, name) is not None
    }
    return DiffusionOptions(**given)


def load_engine_style(args: argparse.Namespace, converter: FrameConverter) -> Style:
    """``--style`` as the engine runs it; diffusion options with another style are refused."""
    if not args.style.startswith(SD_PREFIX):
        given = [flag for name, flag in DIFFUSION_FLAGS.items() if getattr(args, name) is not None]
        if given:
            raise UsageError(f"{given[0]}: only a diffusion style takes it; use --style sd:PATH")
        return load_style(args.style, converter)
    return load_style(
        args.style,
        converter,
        diffusion_options(args),
        vae_tiny=args.vae_tiny,
        allow_download=bool(args.allow_download),
    )


def motion_config(args: argparse.Namespace) -> MotionConfig:
    """What ``--interpolate``/``--stabilize`` ask for."""
    from ..stages.motion import MotionConfig

    if not 1 <= args.interpolate <= 8:
        raise UsageError(f"--interpolate {args.interpolate}: must be 1-8")
    return MotionConfig(factor=args.interpolate, stabilize=args.stabilize, flow=args.flow)


def action_setup(args: argparse.Namespace, has_motion: bool) -> tuple[ActionModel | None, ActionsConfig, list[Rule]]:
    """The action model, its schedule and the label rules that the flags ask for."""
    from ..stages.actions import ActionsConfig

    check_action_args(args)
    config = ActionsConfig(every_frames=args.actions_every)
    if args.actions is None:
        return None, config, []
    from livefx.models.action import load_action_model
    from livefx.models.registry import resolve_actions

    from ..stages.rules import parse_rule

    log.info("loading action model %s ...", args.actions)
    model = load_action_model(resolve_actions(args.actions))
    rules = [parse_rule(text, model.labels) for text in args.on]
    for rule in rules:
        if rule.action == "style":
            pick_style(rule.argument)  # an unknown style fails now, not when the rule fires
        if rule.action == "interpolate" and not has_motion:
            raise UsageError(f"--on {rule.text!r}: needs --interpolate or --stabilize")
    return model, config, rules


def check_files(args: argparse.Namespace, source: Source | None) -> list[Sink]:
    """Everything a run reads and writes, checked before any model loads (see
    ``stream/preflight.py``), then the sinks: a file source opens (a folder, text or an empty
    file fails here); no output may be the source file or another output; file sinks
    refuse an existing file without --overwrite; every output's folder takes new files; a
    --mic's tools, server and device are there."""
    from ..preflight import check_distinct, check_output_file, file_sink_path, file_source_path
    from ..sinks import make_sink
    from ..sources.file import FileSource
    from ..sources.with_mic import WithMicrophone

    if isinstance(source, FileSource):
        source.check()
    if isinstance(source, WithMicrophone):
        source.mic.check()  # no sound server, no such microphone: said now
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
