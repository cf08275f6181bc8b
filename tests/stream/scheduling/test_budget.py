import pytest

from livefx.stream.scheduling.budget import (
    CARRY_STAGE,
    IO_STAGE,
    PROBE_FRAMES,
    BudgetPlanner,
    OnLate,
    StageKind,
    StageSpec,
    build_ladder,
    cost_key,
)
from livefx.stream.scheduling.cost import CostModel

MS = 1_000_000  # ns per ms
PX = 640 * 480
STYLE_ONLY = (StageSpec("stylize"),)


def planner(cost_ms: float, budget: float = 100, **kw) -> BudgetPlanner:
    p = BudgetPlanner([StageSpec("stylize")], budget, **kw)
    p.cost.observe("stylize", PX, cost_ms)
    p.cost.observe(IO_STAGE, PX, 2.0)
    return p


def test_ladder_collapses_rungs_that_do_nothing_different():
    names = [r.name for r in build_ladder([StageSpec("stylize")], (0.75, 0.5), OnLate.PASSTHROUGH)]
    assert names == ["full", "scale_0.75", "scale_0.5", "passthrough"]
    full = build_ladder(
        [
            StageSpec("stylize"),
            StageSpec("interpolate", StageKind.OPTIONAL, scalable=False),
            StageSpec("actions", StageKind.DEFERRABLE, scalable=False),
        ],
        (0.5,),
        OnLate.PASSTHROUGH,
    )
    assert [r.name for r in full] == ["full", "defer", "skip", "scale_0.5", "passthrough"]
    assert full[0].schedule == ("actions",) and full[1].schedule == ()
    assert full[2].run == ("stylize",)
    assert [r.name for r in build_ladder([], (0.5,))] == ["full"]


def test_cost_model_extrapolates_by_pixels():
    cost = CostModel()
    cost.observe("s", 1000, 10.0)
    assert cost.predict("s", 1000) == 10.0
    assert cost.predict("s", 250) == 2.5
    assert cost.predict("other", 1000) is None


def test_full_chain_when_it_fits():
    p = planner(20)
    plan = p.plan(PX, t_capture_ns=0, now_ns=0)
    assert plan.decision == "full" and plan.scale == 1.0 and plan.run == ("stylize",)


def test_scales_down_when_full_does_not_fit():
    p = planner(120)  # full 122 > 100; 0.75 -> 67.5+2 fits
    plan = p.plan(PX, 0, 0)
    assert plan.decision == "scale_0.75" and plan.scale == 0.75


def test_time_already_spent_waiting_counts_against_the_budget():
    p = planner(60)
    assert p.plan(PX, 0, 10 * MS).decision == "full"  # 62 <= 90
    p2 = planner(60)
    assert p2.plan(PX, 0, 50 * MS).decision == "scale_0.75"  # 62 > 50, 35.75 fits


def test_the_last_rung_is_what_a_late_frame_gets():
    def last(on_late: OnLate, stages: tuple[StageSpec, ...] = STYLE_ONLY):
        return build_ladder(list(stages), (0.75, 0.5), on_late)[-1]

    best = last(OnLate.BEST_EFFORT)
    assert (best.name, best.run, best.scale, best.hold) == ("best_effort", ("stylize",), 0.5, False)
    hold = last(OnLate.HOLD)
    assert (hold.name, hold.run, hold.scale, hold.hold) == ("hold", ("stylize",), 0.5, True)
    assert last(OnLate.PASSTHROUGH).passthrough
    # With no effect to lose (interpolation only) a late frame is the raw frame whatever the policy.
    only_motion = (StageSpec("interpolate", StageKind.OPTIONAL, scalable=False),)
    assert last(OnLate.BEST_EFFORT, only_motion).passthrough and last(OnLate.HOLD, only_motion).passthrough


def test_passthrough_when_nothing_fits_and_asked_for():
    p = planner(1000, on_late=OnLate.PASSTHROUGH)
    plan = p.plan(PX, 0, 0)
    assert plan.passthrough and plan.decision == "passthrough"
    assert p.best_fitting(PX).passthrough


def test_by_default_a_late_frame_is_still_processed_at_the_cheapest_rung():
    p = planner(1000)  # even half scale (250 ms) misses 100 ms
    plan = p.plan(PX, 0, 0)
    assert plan.decision == "best_effort" and plan.run == ("stylize",) and plan.scale == 0.5
    assert not plan.passthrough and not plan.hold
    assert p.best_fitting(PX).name == "best_effort"
    # An already-late frame with a cheap chain: the best-effort rung, not a raw frame.
    assert planner(20).plan(PX, 0, 150 * MS).decision == "best_effort"


def test_hold_plans_say_hold_and_still_name_the_cheapest_work():
    plan = planner(1000, on_late=OnLate.HOLD).plan(PX, 0, 0)
    assert plan.decision == "hold" and plan.hold and plan.run == ("stylize",) and plan.scale == 0.5


def test_the_late_rung_is_per_frame_an_on_time_frame_is_processed():
    p = planner(1000, upgrade_after=3)
    assert p.plan(PX, 0, 0).decision == "best_effort"
    for _ in range(30):
        p.cost.observe("stylize", PX, 120)  # half scale now costs 32 ms: on time
    assert p.plan(PX, 0, 0).decision == "scale_0.5"  # at once, no streak needed


def test_frames_just_under_the_budget_are_never_stuck_on_the_late_rung():
    # The cheapest rung costs 87 of the 100 ms (above the 0.8 upgrade margin); a frame that
    # waited 30 ms is late, the next fresh one is on time and must be processed.
    p = planner(340, on_late=OnLate.HOLD)  # half scale: 85 + 2 ms io
    assert p.plan(PX, 0, 30 * MS).decision == "hold"
    decisions = [p.plan(PX, 0, age * MS).decision for age in (0, 5, 30, 0, 10)]
    assert decisions == ["scale_0.5", "scale_0.5", "hold", "scale_0.5", "scale_0.5"]


def test_hysteresis_no_flapping_near_the_boundary():
    p = planner(120, upgrade_after=5, upgrade_margin=0.8)
    decisions = []
    for i in range(40):
        # The real cost wobbles around the budget: 95..105 ms at full scale.
        p.cost.observe("stylize", PX, 93 if i % 2 else 103)
        decisions.append(p.plan(PX, 0, 0).decision)
    changes = sum(a != b for a, b in zip(decisions, decisions[1:]))
    assert changes <= 1, decisions


def test_upgrades_after_sustained_headroom():
    p = planner(150, upgrade_after=5)
    assert p.plan(PX, 0, 0).decision == "scale_0.75"
    for _ in range(30):
        p.cost.observe("stylize", PX, 30)  # the machine got faster
    decisions = [p.plan(PX, 0, 0).decision for _ in range(5)]
    assert decisions[:4] == ["scale_0.75"] * 4 and decisions[4] == "full"


def test_steps_down_immediately():
    p = planner(20)
    assert p.plan(PX, 0, 0).decision == "full"
    for _ in range(30):
        p.cost.observe("stylize", PX, 500)  # even half scale (125 ms) misses now
    assert p.plan(PX, 0, 0).decision == "best_effort"


def test_probe_retries_the_next_rung_up_now_and_then():
    p = planner(1000, probe_every_s=1.0, on_late=OnLate.PASSTHROUGH)
    assert p.plan(PX, 0, 0).decision == "passthrough"
    assert p.plan(PX, 0, 500 * MS).decision == "passthrough"
    # a probe: two frames, the first at a new size being no fair sample of its cost
    probes = [p.plan(PX, 0, t * MS) for t in (1100, 1133)]
    assert [(plan.decision, plan.probe) for plan in probes] == [("scale_0.5", True)] * PROBE_FRAMES
    held = p.plan(PX, 0, 1200 * MS)
    assert (held.decision, held.probe) == ("passthrough", False)
    assert p.decisions == {"passthrough": 3, "scale_0.5": 2}


def test_optional_and_deferrable_stages_go_first():
    p = BudgetPlanner(
        [
            StageSpec("stylize"),
            StageSpec("interpolate", StageKind.OPTIONAL, scalable=False),
            StageSpec("actions", StageKind.DEFERRABLE, scalable=False),
        ],
        100,
    )
    p.cost.observe("stylize", PX, 60)
    p.cost.observe("interpolate", PX, 30)
    assert p.plan(PX, 0, 0).decision == "full"
    p2 = BudgetPlanner([StageSpec("stylize"), StageSpec("interpolate", StageKind.OPTIONAL)], 100)
    p2.cost.observe("stylize", PX, 60)
    p2.cost.observe("interpolate", PX, 60)
    plan = p2.plan(PX, 0, 0)
    assert plan.decision == "skip" and plan.run == ("stylize",)


def test_a_reducible_optional_stage_runs_reduced_while_the_effect_scales_down():
    stages = [
        StageSpec("stylize"),
        StageSpec("interpolate", StageKind.OPTIONAL, scalable=False, reduced=0.5),
        StageSpec("actions", StageKind.DEFERRABLE, scalable=False),
    ]
    ladder = build_ladder(stages, (0.75, 0.5))
    assert [r.name for r in ladder] == ["full", "defer", "reduced", "scale_0.75", "scale_0.5", "skip", "best_effort"]
    assert all(r.run == ("stylize", "interpolate") for r in ladder[1:5])
    assert [r.pixels_for("interpolate", PX) for r in ladder[:5]] == [PX, PX, PX // 4, PX // 4, PX // 4]
    assert [r.pixels_for("stylize", PX) for r in ladder[:5]] == [PX, PX, PX, int(PX * 0.75**2), PX // 4]
    assert ladder[5].run == ("stylize",) and ladder[5].scale == 0.5  # interpolation dropped last
    # Interpolation alone: half-size flow, then none.
    alone = build_ladder([stages[1]], (0.75, 0.5))
    assert [r.name for r in alone] == ["full", "reduced", "skip", "passthrough"] and alone[2].passthrough


def test_the_planner_prices_the_reduced_stage_at_its_own_size():
    p = BudgetPlanner([StageSpec("stylize"), StageSpec("interpolate", StageKind.OPTIONAL, reduced=0.5)], 100)
    p.cost.observe("stylize", PX, 60)
    p.cost.observe("stylize", PX * 9 // 16, 34)
    p.cost.observe("interpolate", PX, 60)  # full-size flow: 120 in all, misses
    p.cost.observe("interpolate", PX // 4, 15)  # half-size flow: 75, fits
    plan = p.plan(PX, 0, 0)
    assert plan.decision == "reduced" and plan.scale == 1.0 and dict(plan.reduced) == {"interpolate": 0.5}
    assert plan.predicted_ms == 75
    assert p.plan(PX, 0, 30 * MS).decision == "scale_0.75"  # 34 + 15 fits 70 ms left


def test_the_planner_keeps_up_with_the_source_before_spending_the_latency_budget():
    p = planner(60)  # full 62 ms fits the 100 ms budget...
    p.frame_interval_ms = 50.0  # ...but a 20 fps source brings a new frame every 50 ms
    plan = p.plan(PX, 0, 0)
    assert plan.decision == "scale_0.75" and plan.predicted_ms <= 50
    slow = planner(300)  # 0.5 scale costs 77 ms: nothing keeps up with 50 ms frames
    slow.frame_interval_ms = 50.0
    assert slow.plan(PX, 0, 0).decision == "scale_0.5"  # the cheapest on-time rung, not the late one
    assert slow.plan(PX, 0, 30 * MS).decision == "best_effort"  # 77 > 70 left: late


def test_leaving_the_late_rung_needs_only_an_on_time_frame():
    p = planner(1000, upgrade_after=2)
    p.frame_interval_ms = 20.0
    assert p.plan(PX, 0, 0).decision == "best_effort"
    for _ in range(30):
        p.cost.observe("stylize", PX, 200)  # 0.5 scale: 52 ms, on time but slower than a frame
    assert p.plan(PX, 0, 0).decision == "scale_0.5"


def test_a_ladder_without_a_late_rung_still_keeps_up():
    # Labels only (no inline stage): full and defer; defer keeps up with 33 ms frames.
    p = BudgetPlanner([StageSpec("actions", StageKind.DEFERRABLE, scalable=False)], 100)
    p.cost.observe("actions", PX, 60)
    p.frame_interval_ms = 33.0
    assert [r.name for r in p.ladder] == ["full", "defer"]
    assert p.plan(PX, 0, 0).decision == "defer"


def test_a_rung_that_keeps_up_is_taken_back_without_the_latency_margin():
    # 15 fps: 66.7 ms frames. The 0.5-scale rung (60 ms) keeps up but is above 0.8 x 66.7;
    # after a stretch on a cheaper rung the planner must still go back up to it.
    p = BudgetPlanner([StageSpec("stylize"), StageSpec("interpolate", StageKind.OPTIONAL, reduced=0.5)], 100)
    p.frame_interval_ms = 1000 / 15
    p.cost.observe("stylize", PX, 200)
    p.cost.observe("stylize", PX // 4, 25)  # 0.5 scale
    p.cost.observe("interpolate", PX // 4, 35)  # half-size flow
    p.cost.observe("interpolate", PX, 120)
    p._level = [r.name for r in p.ladder].index("skip")  # e.g. after a slow spell
    decisions = [p.plan(PX, 0, 0).decision for _ in range(16)]
    assert decisions[-1] == "scale_0.5" and decisions[0] == "skip"


def stepped_planner(costs_per_step: dict[int, float], budget: float) -> BudgetPlanner:
    p = BudgetPlanner([StageSpec("stylize", steps=(4, 2, 1))], budget, scales=(0.5,))
    for steps, ms in costs_per_step.items():
        p.cost.observe(cost_key("stylize", steps), PX, ms)
    p.cost.observe(IO_STAGE, PX, 2.0)
    return p


def rungs(ladder: list) -> list[tuple]:
    return [(r.name, r.steps, r.scale) for r in ladder]


def test_a_stage_with_steps_lowers_its_step_count_before_its_scale():
    ladder = build_ladder([StageSpec("stylize", steps=(4, 2, 1))], (0.5,))
    assert rungs(ladder) == [
        ("full", (("stylize", 4),), 1.0),
        ("steps_2", (("stylize", 2),), 1.0),
        ("steps_1", (("stylize", 1),), 1.0),
        ("scale_0.5", (("stylize", 1),), 0.5),
        ("best_effort", (("stylize", 1),), 0.5),
    ]
    assert ladder[1].cost_key("stylize") == "stylize@2"


def test_the_step_count_is_chosen_per_frame_from_the_measured_costs():
    costs = {4: 160.0, 2: 80.0, 1: 40.0}
    assert stepped_planner(costs, 200).plan(PX, 0, 0).steps == (("stylize", 4),)
    tight = stepped_planner(costs, 100)
    plan = tight.plan(PX, 0, 0)
    assert plan.decision == "steps_2" and plan.steps == (("stylize", 2),)
    # 30 ms of the budget already spent waiting: two steps no longer fit, one does.
    assert tight.plan(PX, 0, 30 * MS).steps == (("stylize", 1),)
    assert tight.decisions == {"steps_2": 1, "steps_1": 1}


def test_forgetting_a_stage_forgets_every_step_count():
    cost = CostModel()
    for key in ("stylize", "stylize@4", "stylize@1", "stylizer"):
        cost.observe(key, PX, 1.0)
    cost.forget("stylize")
    assert [cost.predict(k, PX) for k in ("stylize", "stylize@4", "stylize@1", "stylizer")] == [None, None, None, 1.0]


def test_an_optional_stage_cheap_at_full_size_keeps_running_as_is_while_the_effect_scales_down():
    stages = [StageSpec("stylize"), StageSpec("interpolate", StageKind.OPTIONAL, scalable=False, reduced=1.0)]
    ladder = build_ladder(stages, (0.75, 0.5))
    # No "reduced" rung (it would do the full rung's work); the scaled rungs keep the stage at full size.
    assert [r.name for r in ladder] == ["full", "scale_0.75", "scale_0.5", "skip", "best_effort"]
    assert all(r.pixels_for("interpolate", 100) == 100 for r in ladder[1:3] if "interpolate" in r.run)
    assert all("interpolate" in r.run for r in ladder[:3]) and "interpolate" not in ladder[3].run


def test_the_budget_has_one_owner_that_the_planner_changes_and_the_stats_read():
    """Issue 32: stored once (the planner's Budget, read by RunStats), checked by its own methods."""
    from livefx.stream.errors import UsageError
    from livefx.stream.scheduling.budget import Budget
    from livefx.stream.stats import RunStats

    budget = Budget(100)
    planner, stats = BudgetPlanner([StageSpec("stylize")], budget), RunStats(budget, "cpu")
    planner.budget.set(40)
    assert stats.snapshot()["budget_ms"] == 40
    assert budget.missed(40.5) and not budget.missed(40) and budget.fits(40)
    assert budget.remaining_ms(t_capture_ns=0, now_ns=15_000_000) == 25
    for bad in (0, -5, 60_001):
        with pytest.raises(UsageError, match="above 0 and at most 60000 ms"):
            budget.set(bad)
    assert budget.ms == 40  # a refused change leaves the budget as it was


def run_through_a_surge(p: BudgetPlanner, frames: int = 300, surge: range = range(60, 90)) -> list[str]:
    """30 fps frames whose style costs 28 ms x scale^2, three times that during ``surge``."""
    p.frame_interval_ms = 1000 / 30
    for scale in (1.0, 0.75, 0.5):  # warm-up measures every size
        p.cost.observe("stylize", int(640 * scale) * int(480 * scale), 28 * scale * scale)
    p.cost.observe(IO_STAGE, PX, 2.0)
    decisions = []
    for i in range(frames):
        t = int(i * 1e9 / 30)
        plan = p.plan(PX, t, t + 2 * MS)
        pixels = int(640 * plan.scale) * int(480 * plan.scale)
        p.cost.observe("stylize", pixels, 28 * plan.scale**2 * (3 if i in surge else 1))
        decisions.append(plan.decision)
    return decisions


def test_after_a_surge_of_load_the_planner_climbs_back_within_about_a_second():
    """Issue 30: a busy second (a browser starting, a call app) used to leave the effect at half
    scale until a probe, long after: the costs learned during the surge were kept for the
    rungs it left. A stale size's cost is capped by the freshest size's, scaled, and its next
    sample replaces it."""
    decisions = run_through_a_surge(planner(28, probe_every_s=60))  # no probe: the caps alone
    assert "scale_0.5" in decisions[60:90]  # the surge is seen at once
    back = next(i for i in range(90, 300) if set(decisions[i:]) == {"full"})
    assert back - 90 <= 45, decisions[85:200]  # 1.5 s at 30 fps


def test_a_style_with_a_light_student_tries_both_forms_at_each_scale_best_first():
    spec = StageSpec("style", steps=(2, 1), step_names=("full", "light"))
    assert rungs(build_ladder([spec], (0.75, 0.5))) == [
        ("full", (("style", 2),), 1.0),
        ("light", (("style", 1),), 1.0),
        ("scale_0.75", (("style", 2),), 0.75),
        ("scale_0.75_light", (("style", 1),), 0.75),
        ("scale_0.5", (("style", 2),), 0.5),
        ("scale_0.5_light", (("style", 1),), 0.5),
        ("best_effort", (("style", 1),), 0.5),
    ]
    planner = BudgetPlanner([spec], 100, scales=(0.75, 0.5))
    planner.cost.observe(cost_key("style", 2), PX, 120.0)  # the full student misses the budget
    planner.cost.observe(cost_key("style", 1), PX, 50.0)
    planner.cost.observe(IO_STAGE, PX, 2.0)
    assert planner.plan(PX, 0, 0).decision == "light"
    slower = BudgetPlanner([spec], 100, scales=(0.75, 0.5))
    slower.cost.observe(cost_key("style", 2), PX, 120.0)  # 68 ms at 0.75 scale
    slower.cost.observe(cost_key("style", 1), PX, 110.0)  # the light one misses it at full scale too
    slower.cost.observe(IO_STAGE, PX, 2.0)
    assert slower.plan(PX, 0, 0).decision == "scale_0.75"


def test_after_a_surge_the_planner_climbs_straight_to_the_best_rung_with_headroom():
    spec = StageSpec("style", steps=(2, 1), step_names=("full", "light"))
    planner = BudgetPlanner([spec], 100, scales=(0.75, 0.5), upgrade_after=5, probe_every_s=3600)
    planner.cost.observe(IO_STAGE, PX, 2.0)
    for form in (2, 1):  # a surge: every form at every size far over budget but the smallest
        planner.cost.observe(cost_key("style", form), PX, 400.0)
    assert planner.plan(PX, 0, 0).decision in ("scale_0.5_light", "best_effort")
    for form in (2, 1):  # the load went: everything fits again
        for _ in range(40):
            planner.cost.observe(cost_key("style", form), PX, 30.0)
    decisions = [planner.plan(PX, 0, 0).decision for _ in range(6)]
    # A streak of frames with headroom, then the full rung at once, not one rung per streak
    # (the old way: scale_0.5, scale_0.75_light, scale_0.75 and light first, a streak each).
    assert decisions[0] == "scale_0.5_light" and decisions[-1] == "full", decisions
    assert set(decisions) == {"scale_0.5_light", "full"}, decisions


def test_with_carry_the_first_scale_ends_with_its_cheapest_rung_styling_one_frame_in_two():
    spec = StageSpec("style", steps=(2, 1), step_names=("full", "light"))
    ladder = build_ladder([spec], (0.75, 0.5), carry=2)
    assert [(r.name, r.every) for r in ladder if r.scale < 1.0] == [
        ("scale_0.75", 1),
        ("scale_0.75_light", 1),
        ("scale_0.75_light_every2", 2),
        ("scale_0.5", 1),
        ("scale_0.5_light", 1),  # below it a busy machine drops frames rather than carry 0.5 ones
        ("best_effort", 1),  # a late frame is styled, never carried
    ]
    assert all(r.every == 1 for r in build_ladder([spec], (0.75, 0.5)))  # off by default


def test_a_rung_styling_one_frame_in_two_is_priced_per_frame_on_average():
    spec = StageSpec("style", steps=(2, 1), step_names=("full", "light"))
    planner = BudgetPlanner([spec], 100, scales=(0.75, 0.5), carry=2)
    planner.frame_interval_ms = 33.0
    planner.cost.observe(IO_STAGE, PX, 2.0)
    planner.cost.observe(cost_key("style", 2), PX, 400.0)
    planner.cost.observe(cost_key("style", 1), PX, 80.0)  # 45 ms at 0.75: misses the interval
    planner.cost.observe(CARRY_STAGE, PX, 6.0)
    every2 = next(r for r in planner.ladder if r.name == "scale_0.75_light_every2")
    assert planner.predict_ms(every2, PX) == pytest.approx((2.0 + 45.0 + 6.0) / 2)  # io, style at 0.75; carry
    plan = planner.plan(PX, 0, 0)
    # 26.5 ms a frame keeps up where styling every frame at 0.75 does not
    assert plan.decision == "scale_0.75_light_every2" and plan.every == 2 and plan.scale == 0.75
    for _ in range(20):  # carries refused (fast motion): those frames priced as styled
        planner.cost.observe(CARRY_STAGE, PX, 48.0)
    assert planner.plan(PX, 0, 0).decision == "scale_0.5_light", "a rung whose carries fail gives way"
