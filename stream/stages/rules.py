"""Label-triggered effects: ``--on "zoom_in>0.8=style:candy"``.

A rule fires when its label's smoothed score passes the threshold, then rests for the
cooldown, so one gesture or camera move changes the effect once, not on every update.
Actions: ``style:NAME`` (switch style, prepared off the frame path), ``style:none``,
``interpolate:on|off|toggle``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import UsageError
from .actions import LabelEvent

log = logging.getLogger("livefx.rules")

_RULE = re.compile(
    r"^\s*(?P<label>[\w\- ]+?)\s*(?P<op>[<>])\s*(?P<threshold>[0-9.]+)\s*=\s*(?P<action>\w+):(?P<arg>\S+)\s*$"
)
ACTIONS = {"style", "interpolate"}


@dataclass
class Rule:
    label: str
    above: bool
    threshold: float
    action: str
    argument: str
    text: str
    last_fired: float = field(default=-float("inf"))

    def matches(self, event: LabelEvent) -> bool:
        score = event.score(self.label)
        return score > self.threshold if self.above else score < self.threshold


def parse_rule(text: str, known_labels: list[str] | None = None) -> Rule:
    """``LABEL>THRESHOLD=ACTION:ARG`` (or ``<``); UsageError says what is wrong."""
    m = _RULE.match(text)
    if not m:
        raise UsageError(f"--on {text!r}: expected LABEL>SCORE=ACTION:ARG, e.g. zoom_in>0.8=style:candy")
    label, action, arg = m["label"], m["action"], m["arg"]
    threshold = float(m["threshold"])
    if not 0 <= threshold <= 1:
        raise UsageError(f"--on {text!r}: the score threshold must be between 0 and 1")
    if known_labels is not None and label not in known_labels:
        raise UsageError(f"--on {text!r}: the action model has no label {label!r} (it has: {', '.join(known_labels)})")
    if action not in ACTIONS:
        raise UsageError(f"--on {text!r}: unknown action {action!r}; use style:NAME or interpolate:on|off|toggle")
    if action == "interpolate" and arg not in ("on", "off", "toggle"):
        raise UsageError(f"--on {text!r}: interpolate takes on, off or toggle")
    return Rule(label, m["op"] == ">", threshold, action, arg, text)


class RuleEngine:
    """Checks every label update against the rules and runs the actions that fire."""

    def __init__(
        self,
        rules: list[Rule],
        run_action: Callable[[str, str], None],
        cooldown_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rules = rules
        self.run_action = run_action
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.fired: list[tuple[str, float]] = []

    def __call__(self, event: LabelEvent) -> None:
        now = self.clock()
        for rule in self.rules:
            if rule.matches(event) and now - rule.last_fired >= self.cooldown_s:
                rule.last_fired = now
                self.fired.append((rule.text, event.t))
                log.info("rule %s fired at t=%.2f s", rule.text, event.t)
                self.run_action(rule.action, rule.argument)
