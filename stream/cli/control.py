"""``livefx run --control stdin|tcp:PORT``: where live commands come from.

Each line read is one command in the shared language (``scheduling/commands.py``) and gets one
reply line: ``ok: ...`` or ``error: ...``. stdin replies on stderr; its end stops listening
while the run goes on. ``tcp:PORT`` listens on 127.0.0.1 only (a stream deck, an OBS hotkey
script): several clients at once, lines bounded, a client that goes away is no error.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import socketserver
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import BinaryIO, TextIO

from ..errors import UsageError
from ..scheduling.commands import MAX_LINE

log = logging.getLogger("livefx")

#: Control connections served at once; more are told so and closed.
MAX_CLIENTS = 8

#: A command runner: a line in, a future of the reply out (``CommandRunner.run``).
Run = Callable[[str], Future]


class LineTooLong(ValueError):
    """A line over MAX_LINE characters (the rest of it was skipped)."""


def read_line(readline: Callable[[int], bytes]) -> str | None:
    """The next line without its end (None at the end of input); a line over ``MAX_LINE``
    bytes is skipped to its end and raises LineTooLong, so a flood never fills memory."""
    line = readline(MAX_LINE + 1)
    if not line:
        return None
    if len(line) > MAX_LINE and not line.endswith(b"\n"):
        while (more := readline(MAX_LINE + 1)) and not more.endswith(b"\n"):
            pass
        raise LineTooLong(f"a command is at most {MAX_LINE} characters")
    return line.decode("utf-8", errors="replace").rstrip("\r\n")


def answer(run: Run, readline: Callable[[int], bytes], reply: Callable[[str], None]) -> None:
    """Read commands until the input ends, replying to each (empty lines are skipped)."""
    while True:
        try:
            line = read_line(readline)
        except LineTooLong as exc:
            reply(f"error: {exc}")
            continue
        if line is None:
            return
        if line.strip():
            reply(outcome(run(line)))


def outcome(future: Future) -> str:
    """A command's reply line, once its change is in (or failed)."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - any failure is the reply, the stream goes on
        return f"error: {(str(exc) or type(exc).__name__).splitlines()[0]}"


def parse_control(spec: str) -> int | None:
    """``stdin`` -> None; ``tcp:PORT`` -> the port (0: any free one)."""
    if spec == "stdin":
        return None
    kind, _, port = spec.partition(":")
    if kind == "tcp" and port.isdigit() and int(port) <= 65535:
        return int(port)
    raise UsageError(f"--control {spec}: expected stdin or tcp:PORT (a port 0-65535 on 127.0.0.1)")


class StdinControl:
    """Commands from ``stream`` (stdin), replies on ``replies`` (stderr), on a daemon thread:
    a read from a terminal cannot be interrupted, and the run must not wait for one."""

    def __init__(self, stream: BinaryIO | None = None, replies: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdin.buffer
        self.replies = replies if replies is not None else sys.stderr
        self.thread: threading.Thread | None = None

    def start(self, run: Run) -> None:
        self.thread = threading.Thread(target=self._serve, args=(run,), name="livefx-control-stdin", daemon=True)
        self.thread.start()

    def _serve(self, run: Run) -> None:
        try:
            answer(run, self.stream.readline, self._reply)
        except (OSError, ValueError):  # stdin closed under the thread
            pass
        log.info("control: stdin ended; the run goes on without it")

    def _reply(self, text: str) -> None:
        print(f"control: {text}", file=self.replies, flush=True)

    def close(self) -> None:
        """Nothing to free: the thread ends with stdin or with the process."""


class TcpControl:
    """Commands over TCP on 127.0.0.1:``port``; bound at once (a taken port fails before any
    model loads), served from ``start``."""

    def __init__(self, port: int) -> None:
        try:
            self.server = _Server(("127.0.0.1", port), _Client)
        except OSError as exc:
            reason = "the port is already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
            raise UsageError(f"--control tcp:{port}: cannot listen on 127.0.0.1:{port}: {reason}") from None
        self.port = self.server.server_address[1]
        self.thread: threading.Thread | None = None

    def start(self, run: Run) -> None:
        self.server.run = run
        self.thread = threading.Thread(target=self.server.serve_forever, name="livefx-control-tcp", daemon=True)
        self.thread.start()
        log.info("control: listening on 127.0.0.1:%d (one command a line; send help)", self.port)

    def close(self) -> None:
        """Stop listening and hang up on the clients."""
        if self.thread is not None:
            self.server.shutdown()
            self.thread.join()
        self.server.server_close()
        self.server.hang_up()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: type) -> None:
        super().__init__(address, handler)
        self.run: Run | None = None
        self.clients: set[socket.socket] = set()
        self.lock = threading.Lock()

    def admit(self, client: socket.socket) -> bool:
        with self.lock:
            if len(self.clients) >= MAX_CLIENTS:
                return False
            self.clients.add(client)
            return True

    def leave(self, client: socket.socket) -> None:
        with self.lock:
            self.clients.discard(client)

    def hang_up(self) -> None:
        with self.lock:
            clients = list(self.clients)
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)


class _Client(socketserver.StreamRequestHandler):
    """One connection: a reply line per command line until it hangs up."""

    server: _Server

    def handle(self) -> None:
        try:
            if not self.server.admit(self.request):
                self._reply(f"error: too many control connections (at most {MAX_CLIENTS})")
                return
            assert self.server.run is not None
            answer(self.server.run, self.rfile.readline, self._reply)
        except OSError:
            pass  # the client went away
        finally:
            self.server.leave(self.request)

    def _reply(self, text: str) -> None:
        self.wfile.write(f"{text}\n".encode())
        self.wfile.flush()


@contextlib.contextmanager
def live_control(specs: list[str]) -> Iterator[Callable[[Run], None]]:
    """The ``--control`` front ends, opened now (ports bound); yields ``start(run)`` to begin
    serving once the stream can take commands, and closes them all on the way out."""
    fronts: list[StdinControl | TcpControl] = []
    if specs.count("stdin") > 1:
        raise UsageError("--control stdin: given twice; stdin is one stream")
    try:
        for spec in specs:
            port = parse_control(spec)
            fronts.append(StdinControl() if port is None else TcpControl(port))

        def start(run: Run) -> None:
            for front in fronts:
                front.start(run)

        yield start
    finally:
        for front in fronts:
            front.close()
