"""The bench suite's results as Markdown: a headline of ratios first, then every table."""

from __future__ import annotations

from .stages import stages_table


def markdown(results: dict) -> str:
    sc = results["scenarios"]
    lines = [
        f"# Bench: {results['device']}{' (quick)' if results['quick'] else ''}",
        "",
        f"Machine: {results['machine']}, {results['dtype']}, {results.get('threads', '?')} torch threads,"
        f" motion by {results.get('flow', 'rife')}"
        + ("" if results.get("keep_up", True) else ", planner not keeping up with the source (--no-keep-up)")
        + "."
        f" Started {results['started']}, took {results['wall_s']:.0f} s.",
        "Reproduce: `python -m bench" + (" --quick`" if results["quick"] else "`") + ".",
        "",
        "## Headline",
        "",
        "| measure | livefx | baseline | ratio |",
        "|---|---|---|---|",
        *headline(sc),
        "",
    ]
    if "stages" in sc:
        lines += [
            "## Each model alone",
            "",
            f"Peak RSS {sc['stages']['peak_rss_mb']} MB" + _gpu(sc["stages"]) + ".",
            "",
            *stages_table(sc["stages"]),
            "",
        ]
    if "chain" in sc:
        c = sc["chain"]
        lines += [
            f"## The chain, {c['size'][0]}x{c['size'][1]} from a {c['fps']:g} fps source, {c['seconds']:g} s",
            "",
            "| run | frames in | dropped | processed/s | out fps | in-betweens made / held"
            " | latency p50 / p95 / p99 ms | peak RSS MB (growth) |",
            "|---|---|---|---|---|---|---|---|",
            _run_row(f"README main job (style + 2x, {c.get('readme_sink', 'mp4')})", c["readme_job"]),
            _run_row("full chain (+ action labels)", c["full_chain"]),
            _run_row("naive loop (every frame, as fast as it can)", c["naive"]),
            "",
            "The naive loop reads every frame as fast as it can, so its latency is its compute time per frame"
            " (read to write), not capture to output at the source's rate; its throughput is the point.",
            f"Planner decisions, README job: {_decisions(c['readme_job'])}; full chain: {_decisions(c['full_chain'])}.",
            f"Stage p95 ms, README job: {c['readme_job']['stage_p95_ms']}.",
            "",
        ]
    if "overload" in sc:
        o = sc["overload"]
        lines += [
            f"## Overload: a {o['fps']:g} fps source for {o['seconds']:g} s"
            f" (the unbounded queue for {o.get('unbounded_seconds', o['seconds']):g} s)",
            "",
            "| run | processed/s | out fps | in-betweens made / held | latency p50 / p95 / p99 ms | left queued"
            " | peak RSS MB (growth) |",
            "|---|---|---|---|---|---|---|",
            _overload_row("livefx", o["livefx"]),
            _overload_row("unbounded queue", o["unbounded"]),
            "",
            "Latency over time (p50 / p99 ms per fifth of the run):",
            "",
            "| run | " + " | ".join(f"fifth {k}" for k in range(1, 6)) + " |",
            "|---|" + "---|" * 5,
            _over_time_row("livefx", o["livefx"]),
            _over_time_row("unbounded queue", o["unbounded"]),
            "",
            f"livefx planner decisions: {_decisions(o['livefx'])}.",
            "",
        ]
    if "heavy" in sc:
        h = sc["heavy"]
        run = h["livefx"]
        stage = run["stage_p95_ms"].get("stylize", 0.0)
        lines += [
            f"## Heavy style: a teacher ({h['teacher']}) at 640x480 from a {h['fps']:g} fps source, {h['seconds']:g} s",
            "",
            "| frames in | dropped | styled/s | latency p50 / p95 / p99 ms | stylize p95 ms | planner decisions |",
            "|---|---|---|---|---|---|",
            f"| {run['frames_in']} | {run['frames_dropped']} ({run['dropped_pct']}%) | {run['processed_per_s']}"
            f" | {_latency(run)} | {stage:.0f} | {_decisions(run)} |",
            "",
        ]
    return "\n".join(lines) + "\n"


def headline(sc: dict) -> list[str]:
    rows = []
    if "chain" in sc:
        job, naive = sc["chain"]["readme_job"], sc["chain"]["naive"]
        rows.append(f"| README job: input frames dropped | {job['dropped_pct']}% | | target < 2% |")
        rows.append(f"| README job: capture -> output p95 | {job['latency']['p95_ms']} ms | | target <= 80 ms |")
        if "overload" in sc:
            live = sc["overload"]["livefx"]
            rows.append(
                f"| throughput, input frames styled per s (livefx overloaded, at its planner's rungs,"
                f" vs the naive loop at full size) | {live['processed_per_s']} | {naive['processed_per_s']}"
                f" | {_ratio(live['processed_per_s'], naive['processed_per_s'])} |"
            )
    if "overload" in sc:
        live, unbounded = sc["overload"]["livefx"], sc["overload"]["unbounded"]
        for label, run in (("livefx", live), ("unbounded queue", unbounded)):
            windows = run["over_time"]
            if len(windows) >= 2:
                first, last = windows[0]["p99_ms"], windows[-1]["p99_ms"]
                rows.append(
                    f"| overload p99, first -> last fifth ({label}) | {first} -> {last} ms | | {_ratio(last, first)} |"
                )
        ours, theirs = live["latency"]["p99_ms"], unbounded["latency"]["p99_ms"]
        rows.append(
            f"| overload p99 latency (livefx vs unbounded) | {ours} ms | {theirs} ms | {_ratio(theirs, ours)} lower |"
        )
    if "heavy" in sc:
        run = sc["heavy"]["livefx"]
        stage = run["stage_p95_ms"].get("stylize", 0.0) + run["stage_p95_ms"].get("io", 0.0)
        styled = run["frames_processed"] - run.get("stage_errors", 0)
        rows.append(
            f"| heavy teacher 640x480 @ 60 fps: frames out styled (raw only on a stage error)"
            f" | {styled} of {run['frames_processed']} | | |"
        )
        rows.append(
            f"| heavy teacher: p99 latency vs its stage time (p95, with io) | {run['latency']['p99_ms']} ms"
            f" | {stage:.0f} ms | {_ratio(run['latency']['p99_ms'], stage)} |"
        )
    if "stages" in sc:
        by = {(r["model"], r["size"]): r for r in sc["stages"]["rows"]}
        for (model, size), r in by.items():
            if model == "style student (shipped default)":
                teacher = next(v for (m, s), v in by.items() if s == size and m.startswith("style teacher"))
                rows.append(
                    f"| style at {size}: student vs teacher ms | {r['median_ms']:.1f} | {teacher['median_ms']:.1f}"
                    f" | {_ratio(teacher['median_ms'], r['median_ms'])} faster |"
                )
    return rows


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def _gpu(scenario: dict) -> str:
    return f", peak GPU {scenario['peak_gpu_mb']} MB" if scenario.get("peak_gpu_mb") is not None else ""


def _decisions(run: dict) -> str:
    total = sum(run.get("decisions", {}).values()) or 1
    return ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in run.get("decisions", {}).items()) or "-"


def _latency(run: dict) -> str:
    lat = run["latency"]
    return f"{lat['median_ms']:.0f} / {lat['p95_ms']:.0f} / {lat['p99_ms']:.0f}"


def _run_row(label: str, run: dict) -> str:
    frames_in = run.get("frames_in", run["frames_processed"])
    dropped = f"{run['frames_dropped']} ({run['dropped_pct']}%)" if "frames_dropped" in run else "0 (reads every frame)"
    return (
        f"| {label} | {frames_in} | {dropped} | {run['processed_per_s']} | {run['out_fps']} | {_betweens(run)}"
        f" | {_latency(run)} | {_rss(run)} |"
    )


def _rss(run: dict) -> str:
    return f"{run['peak_rss_mb']} (+{run.get('rss_growth_mb', 0)})"


def _betweens(run: dict) -> str:
    """In-between frames interpolated and slots that repeated the last frame instead."""
    interp = run.get("interpolation")
    if interp is None:  # the baselines interpolate every pair
        return f"{run['frames_out'] - run['frames_processed']} / 0"
    return f"{interp.get('frames_interpolated', 0)} / {interp.get('held_frames', 0)}"


def _overload_row(label: str, run: dict) -> str:
    queued = run.get("queued_at_end", "0 (drops the stale ones)")
    return (
        f"| {label} | {run['processed_per_s']} | {run['out_fps']} | {_betweens(run)} | {_latency(run)} | {queued}"
        f" | {_rss(run)} |"
    )


def _over_time_row(label: str, run: dict) -> str:
    """p50 / p99 per fifth of the run (from its start second); a fifth with no output is "-"."""
    by_start = {w["from_s"]: w for w in run["over_time"]}
    cells = [f"{w['p50_ms']:.0f} / {w['p99_ms']:.0f} (from {start:g} s)" for start, w in sorted(by_start.items())]
    return f"| {label} | " + " | ".join(cells + ["-"] * (5 - len(cells))) + " |"
