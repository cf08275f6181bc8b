"""``livefx run --control stdin|tcp:PORT``: lines in, one reply line each, on real pipes and
sockets; a style switched mid-run."""

from __future__ import annotations

import io
import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import pytest

from livefx.stream.cli.control import MAX_CLIENTS, StdinControl, TcpControl, live_control, parse_control
from livefx.stream.errors import UsageError
from livefx.stream.scheduling.commands import MAX_LINE, parse

from ...conftest import REPO
from ..helpers import wait_until


def parse_only(line: str) -> Future:
    """A command runner without a stream: the real parser, "ok: LINE" for what it accepts."""
    future: Future = Future()
    try:
        parse(line)
    except UsageError as exc:
        future.set_exception(exc)
    else:
        future.set_result(f"ok: {line}")
    return future


def test_control_specs():
    assert parse_control("stdin") is None and parse_control("tcp:8765") == 8765 and parse_control("tcp:0") == 0
    for bad in ["tcp", "tcp:", "tcp:http", "tcp:70000", "udp:5", "stdout"]:
        with pytest.raises(UsageError, match=re.escape(f"--control {bad}: expected stdin or tcp:PORT")):
            parse_control(bad)
    with pytest.raises(UsageError, match="given twice"), live_control(["stdin", "stdin"]):
        pass


def test_stdin_replies_one_line_per_command_and_its_end_only_stops_listening():
    text = b"mix 0.5\n\n" + b"y" * (3 * MAX_LINE) + b"\nwhat\xff\xfe\nmirror on\r\n"
    replies = io.StringIO()
    control = StdinControl(io.BytesIO(text), replies)
    control.start(parse_only)
    control.thread.join(10)
    assert not control.thread.is_alive()  # the input ended: the thread did too
    lines = replies.getvalue().splitlines()
    assert len(lines) == 4, lines  # the empty line is no command
    assert lines[0] == "control: ok: mix 0.5"
    assert lines[1] == f"control: error: a command is at most {MAX_LINE} characters"
    assert lines[2].startswith("control: error: unknown command 'what")  # undecodable bytes: an error, no crash
    assert lines[3] == "control: ok: mirror on"


class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.lines = self.sock.makefile("rb")

    def ask(self, data: bytes) -> str:
        self.sock.sendall(data)
        return self.lines.readline().decode().rstrip("\n")

    def close(self) -> None:
        self.lines.close()
        self.sock.close()


def test_tcp_serves_several_clients_on_loopback_and_survives_junk_and_hang_ups():
    control = TcpControl(0)
    control.start(parse_only)
    try:
        assert control.server.server_address[0] == "127.0.0.1"  # this machine only
        a, b = Client(control.port), Client(control.port)
        assert a.ask(b"mix +0.1\n") == "ok: mix +0.1"
        assert b.ask(b"effect toggle\n") == "ok: effect toggle"
        assert a.ask(b"\x00\x01junk\n").startswith("error: unknown command")
        assert a.ask(b"z" * (10 * MAX_LINE) + b"\n") == f"error: a command is at most {MAX_LINE} characters"
        assert a.ask(b"mirror off\n") == "ok: mirror off"  # the connection goes on after both
        # What `printf 'help\n' | nc -N` does: send, hang up the sending half, read the reply to the end.
        with socket.create_connection(("127.0.0.1", control.port), timeout=30) as hotkey:
            hotkey.sendall(b"mix 0.2\n")
            hotkey.shutdown(socket.SHUT_WR)
            assert hotkey.makefile("rb").read() == b"ok: mix 0.2\n"  # then the server hangs up too
        gone = socket.create_connection(("127.0.0.1", control.port))
        gone.sendall(b"style can")  # half a line, then the client vanishes
        gone.close()
        assert b.ask(b"next\n") == "ok: next"
        wait_until(lambda: len(control.server.clients) == 2, "the vanished client's connection to be let go")
        extra = [Client(control.port) for _ in range(MAX_CLIENTS - 2)]
        assert extra[-1].ask(b"help\n") == "ok: help"
        refused = Client(control.port)
        assert refused.lines.readline().decode().startswith("error: too many control connections")
        for client in (refused, *extra, b):
            client.close()
    finally:
        control.close()
    assert a.lines.readline() == b""  # closing hangs up on the clients still connected
    a.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", control.port), timeout=5)


def test_a_taken_port_is_one_line_before_anything_loads():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError) as error:
            TcpControl(port)
    assert str(error.value) == f"--control tcp:{port}: cannot listen on 127.0.0.1:{port}: the port is already in use"


class LiveRun:
    """``livefx run`` from a synthetic source until SIGTERM, its stderr read line by line."""

    def __init__(self, tmp_path: Path, *flags: str) -> None:
        self.stats = tmp_path / "s.json"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "livefx.stream", "run", "--source", "synthetic", "--size", "64x48", "--fps", "30",
             "--frames", "100000", "--style", "none", "--backend", "eager", "--log-every", "0.2",
             "--stats", str(self.stats), *flags],
            cwd=REPO, stdin=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self.proc.stderr:
            self.lines.put(raw.decode(errors="replace").rstrip("\n"))
        self.lines.put("")  # the process ended

    def wait_for(self, pattern: str, timeout_s: float = 180) -> re.Match:
        """The first stderr line from now on that matches (a hang guard, not a speed check)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no line matching {pattern!r}: {self.seen[-10:]}")
            self.seen.append(line)
            assert line or self.proc.poll() is None, f"livefx ended before {pattern!r}: {self.seen[-10:]}"
            if match := re.search(pattern, line):
                return match

    def stop(self) -> dict:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(60) == 0, self.seen[-10:]
        return json.loads(self.stats.read_text())


def test_run_switches_its_style_from_stdin_and_goes_on_after_stdin_ends(tmp_path):
    run = LiveRun(tmp_path, "--control", "stdin")
    try:
        run.proc.stdin.write(b"style candy\nmix 0.6\nbogus\n")
        run.proc.stdin.flush()
        # One reply line per command, in order, each once its change is in.
        run.wait_for(r"^control: ok: style candy$")
        run.wait_for(r"^control: ok: mix 0.6, mirror off$")
        run.wait_for(r"^control: error: unknown command 'bogus'")
        run.wait_for(r"stage p95 ms: .*stylize")  # frames went through the new style
        run.proc.stdin.close()
        run.wait_for(r"control: stdin ended; the run goes on")
        run.wait_for(r"latency p50")  # still streaming
        stats = run.stop()
    finally:
        run.proc.kill()
    assert stats["stages"]["stylize"]["count"] > 0 and stats["output"]["mix"] == 0.6


def test_run_takes_commands_from_tcp_clients(tmp_path):
    run = LiveRun(tmp_path, "--control", "tcp:0")
    try:
        port = int(run.wait_for(r"control: listening on 127\.0\.0\.1:(\d+)")[1])
        client = Client(port)
        assert client.ask(b"style candy\n") == "ok: style candy"
        assert client.ask(b"mirror on\n") == "ok: mix 1, mirror on"
        client.close()  # a client that leaves; another comes
        other = Client(port)
        assert other.ask(b"mix -0.3\n") == "ok: mix 0.7, mirror on"
        run.wait_for(r"stage p95 ms: .*stylize")
        stats = run.stop()
        other.close()
    finally:
        run.proc.kill()
    assert stats["stages"]["stylize"]["count"] > 0
    assert stats["output"] == {"mix": 0.7, "effect": True, "mirror": True}
