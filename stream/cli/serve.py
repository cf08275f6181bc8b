"""``livefx serve``: the browser client and WebRTC on one port."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LivefxError, UsageError
from ..scheduling.budget import OnLate
from .builders import action_setup, check_files, engine_converter, load_engine_style, motion_config
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
from .signals import stop_during_startup

if TYPE_CHECKING:
    import asyncio
    import ssl

log = logging.getLogger("livefx")


def add_serve_command(sub: argparse._SubParsersAction) -> None:
    """The ``serve`` subcommand and its options."""
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
    add_io_args(
        srv,
        source_default="browser",
        source_help="browser: each client sends its camera and gets it back processed (default);"
        " synthetic | file:PATH | webcam[:N]: processed once, broadcast to every client",
        sink_help="also send the processed stream (and its sound) to file:PATH.{mp4,mkv,y4m} |"
        " virtualcam[:DEVICE] | virtualmic[:NAME] | window; with a server-side --source that stream,"
        " with the browser source the first page's camera and microphone (when it leaves, the next"
        " page's); repeat for several",
    )
    add_engine_args(
        srv,
        style_help="initial style; the page's menu switches it live",
        size_default="640x480",
        size_help="broadcast: the source is scaled to it; browser: the size models warm up for (default: 640x480)",
    )
    srv.add_argument(
        "--codec",
        default="auto",
        choices=["auto", "vp8", "h264"],
        help="video codec both ways (default: auto, the browser's choice of H.264 or VP8; the page"
        " picks H.264 where the browser has it, the cheaper of the two on a CPU)",
    )
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
    srv.set_defaults(func=cmd_serve)


def tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The TLS context --https, --cert and --key ask for (None: plain HTTP)."""
    from ..server import tls
    from ..server.security import reachable_hosts

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

    from livefx.models.registry import resolve_rife

    from ..process import freeze_startup_heap
    from ..server.app import LivefxServer
    from ..server.session import SessionSettings
    from ..sources import make_source

    size = check_engine_args(args)
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: must be 0-65535")
    check_action_args(args)
    if args.source == "browser" and args.mic is not None:
        raise UsageError(
            f"--mic {args.mic}: the browser source sends the page's own microphone; --mic goes with --source webcam:N"
        )
    source = None if args.source == "browser" else make_source(args.source, size, None, loop=args.loop, mic=args.mic)
    sinks = check_files(args, source)
    tls = tls_context(args)  # a certificate problem fails now, before models load
    from ..server.codecs import set_video_bitrate

    set_video_bitrate(args.bitrate)
    with stop_during_startup():  # models load here: a stop signal ends the start cleanly
        converter = engine_converter(args)
        settings = SessionSettings(
            converter,
            load_engine_style(args, converter),
            budget_ms=args.budget_ms,
            on_late=OnLate(args.on_late),
            size=size,
            fit=args.fit,
            backend=args.backend,
            threads=args.threads,
            carry=args.carry,
            codec=args.codec,
            motion=motion_config(args),
            mix=args.mix,
            mirror=args.mirror,
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
