"""Quiet degradation is warned about once, with the fix, and listed while it lasts."""

from livefx.stream.scheduling.degrade import MESSAGES, DegradeWatch
from livefx.stream.stats import RunStats


def test_a_kind_warns_once_when_it_covers_most_of_a_full_window_and_clears_after():
    warnings = []
    watch = DegradeWatch(window=10, share=0.5, warn=warnings.append)
    for _ in range(9):
        watch.observe_decision("passthrough")
    assert watch.active() == [] and warnings == []  # not a full window yet: a moment, not a state
    watch.observe_decision("passthrough")
    assert watch.active() == ["passthrough"] and warnings == [MESSAGES["passthrough"]]
    for _ in range(30):
        watch.observe_decision("full")
    assert watch.active() == []
    for _ in range(10):
        watch.observe_decision("passthrough")
    assert watch.active() == ["passthrough"] and len(warnings) == 1  # once per run
    assert "--budget-ms" in warnings[0]


def test_occasional_degradation_stays_quiet_and_kinds_are_told_apart():
    warnings = []
    watch = DegradeWatch(window=10, share=0.5, warn=warnings.append)
    for i in range(40):
        watch.observe_decision("scale_0.75" if i % 3 == 0 else "full")  # a third of the frames
        watch.observe(held=True)
    assert watch.active() == ["held"] and warnings == [MESSAGES["held"]]


def test_the_stats_document_lists_what_degrades_now():
    stats = RunStats(100.0, "cpu")
    from livefx.stream.stats import FrameRecord

    for seq in range(60):
        stats.record(FrameRecord(seq=seq, decision="scale_0.5", latency_ms=10.0, missed_deadline=False, scale=0.5))
    assert stats.snapshot()["degraded"] == {"scaled": MESSAGES["scaled"]}


def test_each_on_late_outcome_is_its_own_kind_and_names_its_option():
    for decision, kind, option in [
        ("best_effort", "over_budget", "--on-late best-effort"),
        ("hold", "repeated", "--on-late hold"),
        ("passthrough", "passthrough", "--on-late passthrough"),
    ]:
        warnings = []
        watch = DegradeWatch(window=10, share=0.5, warn=warnings.append)
        for _ in range(10):
            watch.observe_decision(decision)
        assert watch.active() == [kind] and warnings == [MESSAGES[kind]]
        assert option in warnings[0] and "--budget-ms" in warnings[0]


def test_scaled_effect_is_named_whatever_rung_ran_it():
    watch = DegradeWatch(window=10, share=0.5, warn=lambda message: None)
    for _ in range(10):
        watch.observe_decision("skip", 0.5)  # interpolation dropped, style at half scale
    assert watch.active() == ["scaled"]
