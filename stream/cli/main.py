"""The ``livefx`` command line: the entry point (``livefx``, ``python -m livefx.stream``).

Each command lives in a module of its own (``run_command``, ``serve_command``,
``weights_command``); the option groups that ``run`` and ``serve`` share are declared once in
``cli_options``, and what they build (style, motion, actions, checked outputs) in ``cli_setup``."""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import LivefxError
from .options import configure_logging
from .run import add_run_command
from .serve import add_serve_command
from .weights import add_weights_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livefx", description="Real-time streaming video filter.")
    parser.add_argument("--version", action="version", version=f"livefx {__version__}")
    parser.set_defaults(verbose=0, quiet=False)  # for the commands without -q/-v
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_command(sub)
    add_serve_command(sub)
    add_weights_command(sub)
    return parser


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
