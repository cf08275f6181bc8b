from livefx.stream.budget import IO_STAGE, BudgetPlanner, CostModel, StageKind, StageSpec, build_ladder

MS = 1_000_000  # ns per ms
PX = 640 * 480


def planner(cost_ms: float, budget: float = 100, **kw) -> BudgetPlanner:
    p = BudgetPlanner([StageSpec("stylize")], budget, **kw)
    p.cost.observe("stylize", PX, cost_ms)
    p.cost.observe(IO_STAGE, PX, 2.0)
    return p


def test_ladder_collapses_rungs_that_do_nothing_different():
    names = [r.name for r in build_ladder([StageSpec("stylize")], (0.75, 0.5))]
    assert names == ["full", "scale_0.75", "scale_0.5", "passthrough"]
    full = build_ladder(
        [
            StageSpec("stylize"),
            StageSpec("interpolate", StageKind.OPTIONAL, scalable=False),
            StageSpec("actions", StageKind.DEFERRABLE, scalable=False),
        ],
        (0.5,),
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


def test_passthrough_when_nothing_fits():
    p = planner(1000)
    plan = p.plan(PX, 0, 0)
    assert plan.passthrough and plan.decision == "passthrough"
    assert p.best_fitting(PX).passthrough


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
    assert p.plan(PX, 0, 0).decision == "passthrough"


def test_probe_retries_the_next_rung_up_now_and_then():
    p = planner(1000, probe_every_s=1.0)
    assert p.plan(PX, 0, 0).decision == "passthrough"
    assert p.plan(PX, 0, 500 * MS).decision == "passthrough"
    assert p.plan(PX, 0, 1100 * MS).decision == "scale_0.5"  # probe
    assert p.plan(PX, 0, 1200 * MS).decision == "passthrough"
    assert p.decisions == {"passthrough": 3, "scale_0.5": 1}


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
