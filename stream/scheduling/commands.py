"""The live-control command language every control front end shares: ``livefx run --control
stdin|tcp:PORT`` (``cli/control.py``) and the window sink's keys (``sinks/window.py``).

One line is one command. ``parse`` checks it; ``CommandRunner.run`` hands what it changes to
the stream's live controls (``live.py``), which reach the worker through its control queue and
apply between two frames. ``run`` never waits for a model: it returns a future of the reply.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from livefx.models.registry import available_styles

from ..errors import LivefxError, UsageError
from ..stages.style import pick_style
from .control import SWITCHES, SetLook
from .live import LiveChanges

#: What ``help`` answers (one line: every front end replies with one line per command).
HELP = (
    "commands: style NAME|N (N: 1-based, as livefx weights lists them), next, prev,"
    " mix 0..1 | mix +D | mix -D, effect on|off|toggle, mirror on|off|toggle, budget MS,"
    " interpolate on|off|toggle (with --interpolate or --stabilize), help"
)

#: The longest command line a front end reads; longer ones get an error.
MAX_LINE = 256

#: The budget range the page accepts too.
BUDGET_MS = (1.0, 10_000.0)


def numbered_styles() -> list[str]:
    """The style names ``style N`` counts (1-based) and ``next``/``prev`` cycle through."""
    return sorted(available_styles())


@dataclass(frozen=True)
class Command:
    """One checked command: its ``verb`` and argument (a style name or number, a mix value or
    step, an on/off/toggle word, a budget in ms). ``relative``: ``mix +D``/``mix -D``."""

    verb: str
    value: str | int | float | None = None
    relative: bool = False


def parse(line: str) -> Command:
    """One command line as a ``Command``; a UsageError says what is wrong with it."""
    verb, _, rest = line.strip().partition(" ")
    verb, rest = verb.lower(), rest.strip()
    args = rest.split()
    if verb in ("next", "prev", "help"):
        _expect(verb, args, 0, "")
        return Command(verb)
    if verb == "style":
        if not rest:
            raise UsageError("style needs a NAME or a number N (livefx weights lists them)")
        return Command(verb, int(rest) if rest.isdigit() else rest)
    if verb == "mix":
        _expect(verb, args, 1, " 0..1, +D or -D (e.g. mix 0.4, mix +0.1)")
        return _parse_mix(args[0])
    if verb in ("effect", "mirror", "interpolate"):
        _expect(verb, args, 1, " on, off or toggle")
        if args[0].lower() not in SWITCHES:
            raise UsageError(f"{verb} {args[0]}: expected on, off or toggle")
        return Command(verb, args[0].lower())
    if verb == "budget":
        _expect(verb, args, 1, " MS (e.g. budget 80)")
        ms = _number(verb, args[0])
        if not BUDGET_MS[0] <= ms <= BUDGET_MS[1]:
            raise UsageError(f"budget {args[0]}: must be between {BUDGET_MS[0]:g} and {BUDGET_MS[1]:g} ms")
        return Command(verb, ms)
    if not verb:
        raise UsageError("empty command; send help for the list")
    raise UsageError(f"unknown command {verb[:40]!r}; {HELP}")


def _parse_mix(text: str) -> Command:
    value = _number("mix", text)
    relative = text[0] in "+-"
    if relative and not -1.0 <= value <= 1.0:
        raise UsageError(f"mix {text}: a step is between -1 and +1")
    if not relative and not 0.0 <= value <= 1.0:
        raise UsageError(f"mix {text}: must be between 0 (the input) and 1 (the full effect)")
    return Command("mix", value, relative)


def _expect(verb: str, args: list[str], count: int, usage: str) -> None:
    if len(args) != count:
        raise UsageError(f"{verb} takes {'no argument' if count == 0 else 'one argument:'}{usage}")


def _number(verb: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise UsageError(f"{verb} {text[:40]}: not a number")
    return value


class CommandRunner:
    """Runs commands on one stream's live controls, from any thread (each front end has its
    own). ``style``: the name of the style the stream starts with (``next``/``prev`` move
    from it); ``look``: the output's mix and mirror now, for the replies."""

    def __init__(self, live: LiveChanges, style: str, look: Callable[[], dict[str, object]]) -> None:
        self.live = live
        self.styles = numbered_styles()
        self._look = look
        self._style = style
        self._lock = threading.Lock()

    def run(self, line: str) -> Future:
        """Parse and start ``line``; the future resolves with the reply ("ok: ...") once the
        change is in, or fails with the reason (a LivefxError)."""
        try:
            return self._run(parse(line))
        except LivefxError as exc:
            return _failed(exc)

    def _run(self, command: Command) -> Future:
        verb, value = command.verb, command.value
        if verb == "help":
            return _done(HELP)
        if verb in ("style", "next", "prev"):
            with self._lock:  # two front ends pressing next at once move two steps
                name = self._pick(command)
                style = pick_style(name, self.live.loaded)
                self._style = name
            return _then(self.live.switch_style(style), lambda: f"style {name}")
        if verb == "budget":
            return _then(self.live.set_budget(float(value)), lambda: f"budget {value:g} ms")
        if verb == "interpolate":
            if not self.live.has_motion:
                raise UsageError(
                    "interpolate: no interpolation in this run; start it with --interpolate or --stabilize"
                )
            on = {"on": True, "off": False}.get(str(value))
            return _then(self.live.set_motion(on), lambda: f"interpolate {value}")
        if verb == "mix":
            change = SetLook(mix_by=float(value)) if command.relative else SetLook(mix=float(value))
        else:
            change = SetLook(**{verb: str(value)})
        return _then(self.live.set_look(change), self._describe_look)

    def _pick(self, command: Command) -> str:
        """The style name a style/next/prev command asks for."""
        if command.verb == "style":
            if not isinstance(command.value, int):
                return str(command.value)
            if not 1 <= command.value <= len(self.styles):
                raise UsageError(f"style {command.value}: pick 1-{len(self.styles)} ({', '.join(self.styles)})")
            return self.styles[command.value - 1]
        if not self.styles:
            raise UsageError(f"{command.verb}: no styles to cycle through (livefx weights lists none)")
        step = 1 if command.verb == "next" else -1
        if self._style in self.styles:
            return self.styles[(self.styles.index(self._style) + step) % len(self.styles)]
        return self.styles[0 if step > 0 else -1]

    def _describe_look(self) -> str:
        look = self._look()
        effect = "" if look["effect"] else " (effect off: the input shows)"
        return f"mix {look['mix']:g}{effect}, mirror {'on' if look['mirror'] else 'off'}"


def _done(reply: str) -> Future:
    future: Future = Future()
    future.set_result(reply)
    return future


def _failed(exc: BaseException) -> Future:
    future: Future = Future()
    future.set_exception(exc)
    return future


def _then(change: Future, reply: Callable[[], str]) -> Future:
    """A future of ``"ok: " + reply()`` once ``change`` is applied, or of its failure."""
    out: Future = Future()

    def done(f: Future) -> None:
        if f.cancelled():
            out.set_exception(LivefxError("the stream ended before the change was applied"))
        elif f.exception() is not None:
            out.set_exception(f.exception())
        else:
            out.set_result(f"ok: {reply()}")

    change.add_done_callback(done)
    return out
