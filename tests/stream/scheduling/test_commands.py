"""The live-command language: every command parsed, bad input refused in one line, and the
runner's changes reaching a running stream between two frames."""

import re
import threading

import pytest

from livefx.stream.errors import LivefxError, UsageError
from livefx.stream.scheduling.commands import HELP, Command, CommandRunner, numbered_styles, parse
from livefx.stream.sources.synthetic import SyntheticSource

from ..helpers import Collect, SlowInvert, pipeline


@pytest.mark.parametrize(
    "line, command",
    [
        ("style candy", Command("style", "candy")),
        ("  STYLE  my styles/a b.safetensors ", Command("style", "my styles/a b.safetensors")),
        ("style 3", Command("style", 3)),
        ("next", Command("next")),
        ("prev", Command("prev")),
        ("mix 0.4", Command("mix", 0.4)),
        ("mix 1", Command("mix", 1.0)),
        ("mix +0.1", Command("mix", 0.1, relative=True)),
        ("mix -0.25", Command("mix", -0.25, relative=True)),
        ("effect off", Command("effect", "off")),
        ("effect TOGGLE", Command("effect", "toggle")),
        ("mirror on", Command("mirror", "on")),
        ("budget 80", Command("budget", 80.0)),
        ("interpolate off", Command("interpolate", "off")),
        ("help", Command("help")),
    ],
)
def test_every_command_parses(line, command):
    assert parse(line) == command


@pytest.mark.parametrize(
    "line, message",
    [
        ("", "empty command; send help"),
        ("dance", "unknown command 'dance'; commands: style"),
        ("style", "style needs a NAME or a number"),
        ("next 2", "next takes no argument"),
        ("mix", "mix takes one argument: 0..1, +D or -D"),
        ("mix 1.5", "mix 1.5: must be between 0 (the input) and 1"),
        ("mix -0.1x", "mix -0.1x: not a number"),
        ("mix nan", "mix nan: not a number"),
        ("mix +2", "mix +2: a step is between -1 and +1"),
        ("mix 0.1 0.2", "mix takes one argument"),
        ("effect maybe", "effect maybe: expected on, off or toggle"),
        ("mirror", "mirror takes one argument: on, off or toggle"),
        ("budget 0", "budget 0: must be between 1 and 10000 ms"),
        ("budget fast", "budget fast: not a number"),
        ("x" * 300, "unknown command '" + "x" * 40 + "'"),
    ],
)
def test_bad_commands_say_what_is_wrong_in_one_line(line, message):
    with pytest.raises(UsageError, match=re.escape(message)) as error:
        parse(line)
    assert "\n" not in str(error.value)


@pytest.fixture
def running():
    """A stream that runs until the test ends (a synthetic source, an inverting stage)."""
    p = pipeline(SyntheticSource(64, 48, fps=30), [Collect(in_order=False)], SlowInvert(0), backend="eager")
    p.open()
    runner = threading.Thread(target=p.run, kwargs={"log_every_s": 0})
    runner.start()
    yield p
    p.stop()
    runner.join(30)


def reply(commands: CommandRunner, line: str) -> str:
    try:
        return commands.run(line).result(timeout=60)
    except LivefxError as exc:
        return f"error: {exc}"


def test_look_and_budget_commands_reach_the_running_stream_and_the_mix_stays_in_0_1(running):
    commands = CommandRunner(running.live, "none", running.look.settings)
    assert reply(commands, "mix 0.4") == "ok: mix 0.4, mirror off"
    assert reply(commands, "mix +0.1") == "ok: mix 0.5, mirror off"
    for _ in range(7):
        reply(commands, "mix +0.1")
    assert reply(commands, "mix +0.1") == "ok: mix 1, mirror off"  # clamped at the top
    assert reply(commands, "mix -1") == "ok: mix 0, mirror off"  # and at the bottom
    assert reply(commands, "mix 0.7") == "ok: mix 0.7, mirror off"
    assert reply(commands, "effect off") == "ok: mix 0.7 (effect off: the input shows), mirror off"
    assert reply(commands, "effect toggle") == "ok: mix 0.7, mirror off"  # the mix was kept
    assert reply(commands, "mirror toggle") == "ok: mix 0.7, mirror on"
    assert reply(commands, "budget 75") == "ok: budget 75 ms"
    assert reply(commands, "help") == HELP
    snap = running.snapshot()
    assert snap["output"] == {"mix": 0.7, "effect": True, "mirror": True} and snap["budget_ms"] == 75
    assert reply(commands, "interpolate on").startswith("error: interpolate: no interpolation in this run")
    assert reply(commands, "mix 7") == "error: mix 7: must be between 0 (the input) and 1 (the full effect)"


def test_styles_by_name_number_next_and_prev_switch_the_running_style(running):
    styles = numbered_styles()
    assert len(styles) >= 3 and styles == sorted(styles)
    commands = CommandRunner(running.live, "none", running.look.settings)
    assert reply(commands, "next") == f"ok: style {styles[0]}"  # from a style not in the list: the first
    assert reply(commands, "style 3") == f"ok: style {styles[2]}"
    assert reply(commands, "prev") == f"ok: style {styles[1]}"
    assert reply(commands, f"style {styles[-1]}") == f"ok: style {styles[-1]}"
    assert reply(commands, "next") == f"ok: style {styles[0]}"  # around the end
    assert running.worker.swaps == 5
    assert reply(commands, "style 99") == f"error: style 99: pick 1-{len(styles)} ({', '.join(styles)})"
    assert reply(commands, "style nosuch").startswith("error: style nosuch: unknown style")
    assert reply(commands, "style none") == "ok: style none"
    assert running.worker.swaps == 6 and running.style_stage() is None


def test_a_command_after_the_stream_ended_fails_with_the_reason():
    p = pipeline(SyntheticSource(64, 48, fps=30), [Collect()], SlowInvert(0), realtime=False, max_frames=3)
    p.open()
    p.run(log_every_s=0)
    commands = CommandRunner(p.live, "none", p.look.settings)
    assert reply(commands, "mix 0.5").startswith("error: the stream")
