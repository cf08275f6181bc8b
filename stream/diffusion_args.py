"""The command line's diffusion-style options (``--style sd:PATH`` and what goes with it),
shared by ``livefx run`` and ``livefx serve``."""

from __future__ import annotations

import argparse

from livefx.models.diffusion.folder import SD_PREFIX
from livefx.models.diffusion.stage import DEFAULT_STEPS, DiffusionOptions

from .device import FrameConverter
from .errors import UsageError
from .style import Style, load_style

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
    """The ``--style sd:PATH`` options; each refuses to be given with another style."""
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
