"""The JSON messages on ``/ws``: every message is an object with a ``type``.

Client -> server: ``offer`` {sdp}, ``candidate`` {candidate, sdpMid, sdpMLineIndex} (trickle
ICE is optional: offers may carry all candidates), ``style`` {name}, ``budget`` {ms},
``marker`` {width, height, band} (the client's frames are width x height and their top
``band`` rows are a timing band, not picture: the server cuts the band off on arrival and puts
it back above the frames it returns to this client only, so a frame code drawn there comes back
for latency measurement; band 0: no band; may come before the offer), ``ping``,
``subscribe`` (an observer such as the OBS overlay: receive every session's
events, send no video; with a server-side source, the broadcast's own ``labels`` and ``metrics``
whether or not anyone watches, and on subscribing its latest labels and prompt),
``interpolate`` {on} (turn interpolation/stabilization on or off
when the server runs with them), ``prompt`` {prompt, strength?, seed?} (a diffusion style's
prompt; strength and seed optional), ``mix`` {value} (the effect mixed with the input: 0 the
input, 1 the full effect), ``mirror`` {on} (the output mirrored; the page's preview mirror is
its own). Server -> client: ``hello`` {styles, style, budget_ms, mode, interpolation (the
factor, 0 when off), mix, mirror, diffusion (the prompt settings, null without a diffusion
style)}, ``answer`` {sdp}, ``state`` {state}, ``style`` {name, status}, ``interpolate`` {on},
``mix`` {value}, ``mirror`` {on} (applied), ``prompt`` {prompt, strength, seed} (applied, or resumed by a switch
back to the diffusion style; observers get it too),
``metrics`` {... steps: frames per denoising step count, diffusion, source_fps: the
rate the camera's frames reach the engine (null until measured), output: {mix, effect, mirror}}, ``labels`` {t, span,
labels: [{label, score}]} (action labels, when the server runs with --actions), ``pong``,
``error`` {message}.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..scheduling.budget import check_budget_ms
from .band import MAX_BAND_ROWS

#: Field name -> type, per client message type.
CLIENT_MESSAGES: dict[str, dict[str, type | tuple[type, ...]]] = {
    "offer": {"sdp": str},
    "candidate": {"candidate": str},
    "style": {"name": str},
    "budget": {"ms": (int, float)},
    "ping": {},
    "subscribe": {},
    "marker": {"width": int, "height": int, "band": int},
    "interpolate": {"on": bool},
    "prompt": {"prompt": str},
    "mix": {"value": (int, float)},
    "mirror": {"on": bool},
}

#: The longest prompt accepted (CLIP reads 77 tokens; this is generous and bounded).
MAX_PROMPT_CHARS = 1000


class ProtocolError(ValueError):
    """A message the server cannot act on; its text goes back to the client."""


@dataclass(frozen=True)
class Message:
    type: str
    data: dict[str, Any]


def parse(raw: str | bytes) -> Message:
    """Validate one client message; ProtocolError says what is wrong with it."""
    if isinstance(raw, bytes):
        raise ProtocolError("binary messages are not supported; send JSON text")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(data, dict):
        raise ProtocolError("a message must be a JSON object with a 'type'")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("missing 'type'")
    if kind not in CLIENT_MESSAGES:
        raise ProtocolError(f"unknown message type {kind!r}; expected one of {', '.join(CLIENT_MESSAGES)}")
    for field, expected in CLIENT_MESSAGES[kind].items():
        value = data.get(field)
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            raise ProtocolError(f"'{kind}' needs a '{field}' field of type {_type_name(expected)}")
    if kind == "budget":
        try:
            check_budget_ms(data["ms"], "'budget' ms")
        except UsageError as exc:
            raise ProtocolError(str(exc)) from None
    if kind == "mix" and not 0 <= data["value"] <= 1:  # JSON has no NaN; Python's parser does: refused too
        raise ProtocolError("'mix' value must be between 0 (the input) and 1 (the full effect)")
    if kind == "marker":
        _check_marker(data)
    if kind == "prompt":
        _check_prompt(data)
    return Message(kind, data)


def _check_marker(data: dict[str, Any]) -> None:
    band, width, height = data["band"], data["width"], data["height"]
    if band == 0:
        return
    if not (0 < band <= MAX_BAND_ROWS and band % 2 == 0):
        raise ProtocolError(f"'marker' band must be an even number of rows, at most {MAX_BAND_ROWS} (0: no band)")
    if not (0 < width <= 16384 and band < height <= 16384):
        raise ProtocolError("'marker' width and height are the frames' size, band included (at most 16384)")


def _check_prompt(data: dict[str, Any]) -> None:
    if len(data["prompt"]) > MAX_PROMPT_CHARS:
        raise ProtocolError(f"'prompt' is at most {MAX_PROMPT_CHARS} characters")
    strength = data.get("strength")
    if strength is not None and (
        isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 < strength <= 1
    ):
        raise ProtocolError("'prompt' strength must be a number in (0, 1]")
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63):
        raise ProtocolError("'prompt' seed must be a non-negative integer")


def error(message: str) -> str:
    return json.dumps({"type": "error", "message": message})


def event(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields})


def first_line(exc: BaseException) -> str:
    """An exception in a few words for an ``error`` message or a log line: its first line, bounded."""
    return (str(exc) or type(exc).__name__).splitlines()[0][:200]


def _type_name(expected: type | tuple[type, ...]) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    return {str: "string", int: "number", float: "number", bool: "boolean"}.get(types[0], types[0].__name__)
