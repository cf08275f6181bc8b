"""Label rules: parsing with clear errors, thresholds, cooldown."""

import pytest

from livefx.stream.errors import UsageError
from livefx.stream.stages.actions import LabelEvent
from livefx.stream.stages.rules import RuleEngine, parse_rule


def test_rules_parse_and_refuse_nonsense():
    rule = parse_rule("zoom_in>0.8=style:candy", ["zoom_in", "still"])
    assert (rule.label, rule.above, rule.threshold, rule.action, rule.argument) == (
        "zoom_in",
        True,
        0.8,
        "style",
        "candy",
    )
    assert parse_rule("still<0.2=interpolate:toggle").above is False
    for bad, reason in [
        ("zoom_in=style:candy", "expected LABEL>SCORE"),
        ("zoom_in>1.5=style:candy", "between 0 and 1"),
        ("wave>0.5=style:candy", "no label 'wave'"),
        ("zoom_in>0.5=explode:now", "unknown action"),
        ("zoom_in>0.5=interpolate:maybe", "on, off or toggle"),
    ]:
        with pytest.raises(UsageError, match=reason):
            parse_rule(bad, ["zoom_in", "still"])


def test_a_rule_fires_once_per_cooldown():
    now = [0.0]
    fired = []
    engine = RuleEngine([parse_rule("zoom_in>0.8=style:candy")], lambda a, b: fired.append((a, b)), 3.0, lambda: now[0])

    def update(score):
        engine(LabelEvent(now[0], (now[0] - 1, now[0]), [("zoom_in", score), ("still", 1 - score)]))

    update(0.5)
    assert fired == []
    update(0.9)
    now[0] = 1.0
    update(0.95)  # still in its cooldown
    assert fired == [("style", "candy")]
    now[0] = 3.5
    update(0.9)
    assert fired == [("style", "candy")] * 2
