"""The command line as a user meets it: real runs, real files, one-line errors."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from livefx.stream.cli.main import main

from ...conftest import REPO, count_frames, read_frames, write_video


def livefx(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    # A guard against hangs, not a speed bar: a first start on a CPU without bf16 converts,
    # quantizes and checks each style (47 s alone for the default style and the action model on
    # a 2-core AMD EPYC; over 120 s beside the suite's other worker).
    return subprocess.run(
        [sys.executable, "-m", "livefx.stream", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def test_main_job_writes_a_playable_mp4_matching_frames_out(tmp_path):
    out, stats_path = tmp_path / "o.mp4", tmp_path / "s.json"
    proc = livefx(
        "run",
        "--source",
        "synthetic",
        "--sink",
        f"file:{out}",
        "--frames",
        "150",
        "--size",
        "320x240",
        "--fps",
        "30",
        "--stats",
        str(stats_path),
    )
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(stats_path.read_text())
    assert stats["frames_in"] == 150
    # The file holds every frame its sink wrote; a recorder that fell a whole output ring
    # behind on a busy machine skips (and counts) the overwritten ones.
    sink = stats["sinks"][f"file:{out}"]
    assert count_frames(out) == sink["written"] > 0 and sink["written"] + sink["skipped"] == stats["frames_out"]
    assert stats["frames_in"] == stats["frames_out"] + stats["frames_dropped"]
    assert set(stats["latency_ms"]) == {"p50", "p95", "p99"}
    assert stats["device"] == "cpu" and stats["budget_ms"] == 100
    assert "latency p50" in proc.stderr  # the live stats line


def test_main_job_with_the_embedded_interpolator_doubles_the_frame_rate(tmp_path):
    """README's main job in real time. Only what holds at any machine speed is asserted:
    a busy machine may drop input frames or skip the interpolator (both counted), but every
    processed frame after the first gets exactly one in-between slot, and no in-between
    frame waits less than half an input interval (a drop makes the gap, and so the wait, longer)."""
    out, stats_path = tmp_path / "o.mp4", tmp_path / "s.json"
    proc = livefx(
        "run", "--source", "synthetic", "--sink", f"file:{out}", "--frames", "90", "--size", "320x240",
        "--fps", "30", "--interpolate", "--stats", str(stats_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(stats_path.read_text())
    interp = stats["interpolation"]
    processed = stats["frames_in"] - stats["frames_dropped"]
    assert interp["frames_interpolated"] + interp["held_frames"] == processed - 1
    assert stats["frames_out"] == 2 * processed - 1
    sink = stats["sinks"][f"file:{out}"]
    assert count_frames(out) == sink["written"] and sink["written"] + sink["skipped"] == stats["frames_out"]
    assert interp["inherent_wait_ms"]["p50"] >= 1000 / 60 - 0.01


def test_offline_interpolation_makes_every_in_between_frame_half_an_interval_late(tmp_path):
    """The same job with --no-realtime: nothing is dropped or skipped, so the figures are exact."""
    out, stats_path = tmp_path / "o.mp4", tmp_path / "s.json"
    proc = livefx(
        "run", "--source", "synthetic", "--sink", f"file:{out}", "--frames", "20", "--size", "320x240",
        "--fps", "30", "--interpolate", "--no-realtime", "--stats", str(stats_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(stats_path.read_text())
    interp = stats["interpolation"]
    assert (stats["frames_in"], stats["frames_dropped"], stats["frames_out"]) == (20, 0, 39)
    assert (interp["frames_interpolated"], interp["held_frames"]) == (19, 0)
    assert count_frames(out) == 39
    wait = interp["inherent_wait_ms"]
    assert wait["p50"] == wait["p99"] == pytest.approx(1000 / 60, abs=0.01)  # half of a 30 fps interval


def test_style_run_offline_keeps_every_frame(tmp_path, teachers_dir, make_video):
    clip = make_video("in.mkv", frames=12, size=(64, 48))
    out, stats_path = tmp_path / "o.y4m", tmp_path / "s.json"
    proc = livefx(
        "run",
        "--source",
        f"file:{clip}",
        "--no-realtime",
        "--style",
        str(teachers_dir / "candy.pth"),
        "--sink",
        f"file:{out}",
        "--stats",
        str(stats_path),
    )
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(stats_path.read_text())
    assert stats["frames_out"] == 12 and stats["frames_dropped"] == 0
    assert stats["stages"]["stylize"]["count"] == 12
    assert count_frames(out) == 12


def test_help_describes_the_contract():
    proc = livefx("run", "--help")
    assert proc.returncode == 0
    for flag in [
        "--source",
        "--sink",
        "--style",
        "--size",
        "--fps",
        "--frames",
        "--budget-ms",
        "--device",
        "--no-realtime",
        "--stats",
        "--mix",
        "--mirror",
        "--control",
    ]:
        assert flag in proc.stdout
    # The live commands and the window's keys are described where the options are.
    assert "mix +0.1" in proc.stdout and "1-9 styles" in proc.stdout


def test_bad_input_is_one_line_without_traceback(tmp_path):
    proc = livefx("run", "--source", f"file:{tmp_path}/missing.mp4")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert (
        proc.stderr.strip().splitlines()[-1]
        == f"livefx: error: file:{tmp_path}/missing.mp4: no such file; check the path"
    )


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--sink", "bogus"], 2, "--sink bogus: unknown sink"),
        (["--source", "camera"], 2, "--source camera: unknown source"),
        (["--size", "641x479"], 2, "must be even (4:2:0 video needs it); use 640x478"),
        (["--size", "big"], 2, "expected WIDTHxHEIGHT"),
        (["--size", "100000x100000"], 2, "at most 8192 pixels a side"),
        (["--style", "no-such-style"], 2, "--style no-such-style: unknown style"),
        (["--device", "tpu"], 2, "--device tpu: unknown device"),
        (["--frames", "0"], 2, "--frames 0: must be positive"),
        (["--prompt", "a fox"], 2, "--prompt: only a diffusion style takes it; use --style sd:PATH"),
        (["--style", "sd:"], 2, "--style sd: give the diffusers folder"),
        (["--style", "sd:/no/such/folder"], 1, "--style /no/such/folder: no such folder"),
        (["--style", "sd:/tmp", "--strength", "0"], 2, "--strength 0: must be in (0, 1]"),
        (["--style", "sd:/tmp", "--steps", "1,2"], 2, "--steps 1,2: distinct counts 1..8, best first"),
        (["--mix", "1.5"], 2, "--mix 1.5: must be between 0 (the input) and 1 (the full effect)"),
        (["--mix", "nan"], 2, "--mix nan: must be between 0"),
        (["--control", "udp:9"], 2, "--control udp:9: expected stdin or tcp:PORT"),
    ],
)
def test_usage_errors(args, code, message, capsys):
    assert main(["run", *args]) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_weights_that_are_not_weights(tmp_path, capsys):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(np.random.default_rng(0).bytes(4096))
    assert main(["run", "--style", str(junk), "--frames", "1"]) == 1
    assert "junk.pth: not a readable weights file" in capsys.readouterr().err


def test_corrupt_video(tmp_path, capsys):
    bad = tmp_path / "bad.webm"
    bad.write_bytes(np.random.default_rng(0).bytes(8192))
    assert main(["run", "--source", f"file:{bad}"]) == 1
    assert "not a readable video" in capsys.readouterr().err


def test_virtualcam_without_a_device_fails_clearly(capsys):
    assert main(["run", "--sink", "virtualcam:/dev/video-none", "--frames", "5", "--size", "64x48"]) == 1
    err = capsys.readouterr().err
    assert "virtualcam:/dev/video-none: no virtual camera available" in err and "v4l2loopback" in err
    # As a user sees it: the reason once, whole (it was logged by the output and printed again).
    proc = livefx("run", "--sink", "virtualcam:/dev/video-none", "--frames", "5", "--size", "64x48", "--style", "none")
    assert proc.returncode == 1 and proc.stderr.count("no virtual camera available") == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("livefx: error: virtualcam:/dev/video-none:")


def test_weights_lists_styles_on_the_search_path(tmp_path, monkeypatch, capsys):
    from ..test_switching import student_file

    student_file(tmp_path / "tiny.safetensors", 1)
    (tmp_path / "notes.txt").write_text("not a style")
    monkeypatch.setenv("LIVEFX_STYLE_PATH", str(tmp_path))
    assert main(["weights"]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "student" in out and "notes" not in out


def test_weights_lists_the_embedded_interpolator_and_action_model(capsys):
    from livefx.models.registry import DEFAULT_ACTIONS, DEFAULT_RIFE

    assert main(["weights"]) == 0
    out = capsys.readouterr().out
    if DEFAULT_RIFE.is_file():
        assert "interpolator (--rife default)" in out and "linear_blend" in out and "dis_flow" in out
    if (DEFAULT_ACTIONS / "training.json").is_file():
        assert "actions (--actions default)" in out and "held-out accuracy" in out


def test_interpolate_out_of_range_is_refused(capsys):
    assert main(["run", "--interpolate", "9", "--frames", "2", "--size", "64x48"]) == 2
    assert "--interpolate 9: must be 1-8" in capsys.readouterr().err


def test_the_default_run_is_stylized_and_style_none_is_the_raw_source(tmp_path):
    """No --style: the best shipped style; --style none: the source unchanged (up to the codec)."""
    from livefx.models.registry import DEFAULT_STYLE, EMBEDDED_STYLES_DIR

    assert (EMBEDDED_STYLES_DIR / f"{DEFAULT_STYLE}.safetensors").is_file()
    outputs = {}
    for name, extra in {"default": [], "none": ["--style", "none"]}.items():
        out, stats_path = tmp_path / f"{name}.y4m", tmp_path / f"{name}.json"
        proc = livefx(
            "run", "--source", "synthetic", "--sink", f"file:{out}", "--frames", "6", "--size", "160x120",
            "--no-realtime", "--stats", str(stats_path), *extra,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        stats = json.loads(stats_path.read_text())
        assert stats["frames_out"] == 6
        outputs[name] = (read_frames(out), stats)
    styled, raw = outputs["default"][0], outputs["none"][0]
    assert outputs["default"][1]["stages"]["stylize"]["count"] == 6
    assert "stylize" not in outputs["none"][1]["stages"]
    diff = np.abs(styled.astype(np.float32) - raw.astype(np.float32)).mean() / 255
    assert diff > 0.08  # a visible effect, not a tint


def test_serve_on_a_taken_port_exits_with_an_error_naming_it():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = livefx("serve", "--port", str(port), "--style", "none", timeout=60)  # it used to hang forever
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and f"127.0.0.1:{port}: the port is already in use" in errors[0], proc.stderr
    assert "--port" in errors[0]


def test_serve_help_lists_only_what_serve_accepts():
    help_text = livefx("serve", "--help").stdout
    assert "--actions" in help_text and "--style" in help_text and "--mix" in help_text and "--mirror" in help_text
    for run_only in ("--events", "--draw-labels", "--on ", "--frames", "--stats", "--control"):
        assert run_only not in help_text
    proc = livefx("serve", "--events", "labels.jsonl")
    assert proc.returncode == 2 and "unrecognized arguments: --events" in proc.stderr


def test_serve_logs_one_line_per_session_event_and_library_chatter_only_with_v():
    import signal
    import urllib.request

    def session(*flags):
        proc = subprocess.Popen(
            [sys.executable, "-m", "livefx.stream", "serve", "--port", "0", "--style", "none", *flags],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines = []
        try:
            for line in proc.stderr:  # wait for the printed URL
                lines.append(line)
                if "open http" in line:
                    break
            port = int(lines[-1].split("127.0.0.1:")[1].split("/")[0])
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read()
            from websockets.sync.client import connect

            with connect(f"ws://127.0.0.1:{port}/ws") as ws:
                ws.recv(timeout=10)
        finally:
            proc.send_signal(signal.SIGTERM)  # what supervisors send; stops serve gracefully
            rest = proc.communicate(timeout=30)[1]
        assert proc.returncode == 0, rest
        return "".join(lines) + rest

    quiet = session()
    assert "client 127.0.0.1 connected (1 of 4 sessions)" in quiet and "client 127.0.0.1 left" in quiet
    assert "stopping (SIGTERM)" in quiet
    assert "websockets" not in quiet and "GET /" not in quiet
    verbose = session("-v")
    assert "websockets.server:" in verbose  # the library's own per-connection lines


@pytest.mark.parametrize("fit, bars", [("pad", True), ("stretch", False)])
def test_size_keeps_a_wide_clips_shape_by_letterboxing(tmp_path, make_video, fit, bars):
    clip = make_video("wide.mkv", frames=8, size=(128, 54))  # 2.37:1 into 4:3
    out = tmp_path / "o.mkv"
    code = main(["run", "--source", f"file:{clip}", "--no-realtime", "--style", "none", "--size", "64x48",
                 "--fit", fit, "--sink", f"file:{out}", "-q"])  # fmt: skip
    assert code == 0
    frames = read_frames(out)
    assert frames.shape[1:3] == (48, 64)
    top, middle = frames[:, :6].mean(), frames[:, 20:28].mean()
    assert middle > 40
    assert (top < 12) == bars  # letterbox bars are black; stretched content reaches the edge


def _fragments_on_disk(path: Path) -> int:
    """How many fragments (``moof`` boxes) of a fragmented MP4 have reached the disk."""
    return path.read_bytes().count(b"moof") if path.exists() else 0


def _record_until_signal(tmp_path, sig: int, fragments: int) -> tuple[subprocess.Popen, Path, Path]:
    """``livefx run`` recording a live synthetic stream to mp4 (a fragment each half second),
    sent ``sig`` once ``fragments`` fragments are on disk, however long that takes here."""
    out, stats_path = tmp_path / "live.mp4", tmp_path / "s.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "livefx.stream", "run", "--source", "synthetic", "--size", "160x96", "--fps", "25",
         "--style", "none", "--sink", f"file:{out}", "--stats", str(stats_path), "--log-every", "0"],
        cwd=REPO, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120  # a hang guard, not a speed check
    while _fragments_on_disk(out) < fragments and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if _fragments_on_disk(out) < fragments:
        proc.kill()
        pytest.fail(f"no {fragments} fragments in {out}: {proc.communicate()[1][-2000:]}")
    proc.send_signal(sig)
    return proc, out, stats_path


def test_sigterm_during_a_recording_finalises_a_playable_file_with_every_frame(tmp_path):
    proc, out, stats_path = _record_until_signal(tmp_path, signal.SIGTERM, fragments=3)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert "stopping (SIGTERM)" in err
    written = json.loads(stats_path.read_text())["sinks"][f"file:{out}"]["written"]
    with av.open(str(out)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    assert written > 25 and decoded == written


def test_a_recording_survives_a_hard_kill_up_to_its_last_fragment(tmp_path):
    # Four fragments of about 13 frames begun on disk, the last perhaps cut short by the kill.
    proc, out, _ = _record_until_signal(tmp_path, signal.SIGKILL, fragments=4)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    decoded = 0
    with av.open(str(out)) as container:  # fragmented MP4: no index needed at the end
        for packet in container.demux(video=0):
            try:
                decoded += len(packet.decode())
            except av.error.InvalidDataError:  # the fragment being written when it died
                break
    assert decoded >= 25  # at least the first full second, as a player shows it


# --- Nothing lost, nothing silent (issue 31) ------------------------------------------------


def last_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert lines and "Traceback" not in err, err
    return lines[-1]


@pytest.mark.parametrize("spelling", ["relative", "dot", "absolute", "dotdot", "symlink", "hardlink"])
@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_a_sink_that_is_the_source_is_refused_however_spelled(tmp_path, monkeypatch, capsys, spelling, overwrite):
    clip = tmp_path / "talk.mp4"
    write_video(clip, 10)
    before = clip.read_bytes()
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.mp4").symlink_to(clip)
    (tmp_path / "hard.mp4").hardlink_to(clip)
    monkeypatch.chdir(tmp_path)
    sink = {
        "relative": "talk.mp4",
        "dot": "./talk.mp4",
        "absolute": str(clip),
        "dotdot": "sub/../talk.mp4",
        "symlink": "link.mp4",
        "hardlink": "hard.mp4",
    }[spelling]
    code = main(["run", "--source", "file:talk.mp4", "--sink", f"file:{sink}", "--style", "none", *overwrite])
    assert code == 2
    assert last_error(capsys.readouterr().err) == (
        f"livefx: error: --sink file:{sink}: that is the source file (--source file:talk.mp4);"
        " writing it would destroy the input while it is read: name another file"
    )
    assert clip.read_bytes() == before


def test_a_sink_that_is_the_source_exits_at_once_as_a_user_runs_it(tmp_path, make_video):
    clip = make_video("talk.mp4", frames=10)
    before = clip.read_bytes()
    t0 = time.monotonic()
    proc = livefx("run", "--source", f"file:{clip}", "--sink", f"file:{clip}", timeout=60)  # the default style
    assert proc.returncode == 2 and time.monotonic() - t0 < 45
    assert proc.stderr.strip().count("\n") == 0, proc.stderr  # one line: refused before any model loads
    assert "that is the source file" in last_error(proc.stderr)
    assert clip.read_bytes() == before


def test_int8_without_its_extra_is_refused_at_start_in_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "nncf", None)  # as if livefx[int8] were not installed
    code = main(["run", "--style", "default", "--frames", "2", "--size", "64x48", "--precision", "int8", "-q"])
    assert code == 2
    assert last_error(capsys.readouterr().err) == (
        "livefx: error: --precision int8: needs NNCF, which is not installed; pip install 'livefx[int8]'"
    )


def test_an_existing_file_sink_is_kept_without_overwrite_and_replaced_with_it(tmp_path, capsys):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"last week's recording")
    base = ["run", "--frames", "4", "--size", "64x48", "--style", "none", "--no-realtime", "-q"]
    assert main([*base, "--sink", f"file:{out}"]) == 2
    assert last_error(capsys.readouterr().err) == (
        f"livefx: error: --sink file:{out}: {out} already exists; add --overwrite (or -y) to replace it"
    )
    assert out.read_bytes() == b"last week's recording"
    assert main([*base, "--sink", f"file:{out}", "--overwrite"]) == 0
    assert count_frames(out) == 4
    assert main([*base, "--frames", "6", "--sink", f"file:{out}", "-y"]) == 0  # ffmpeg's habit
    assert count_frames(out) == 6
    assert "--overwrite" in livefx("run", "--help").stdout


def test_two_sinks_naming_one_file_and_stats_over_the_source_are_refused(tmp_path, make_video, capsys):
    clip = make_video("talk.mkv")
    out = tmp_path / "o.mkv"
    assert main(["run", "--style", "none", "--sink", f"file:{out}", "--sink", f"file:{tmp_path}/./o.mkv"]) == 2
    assert f"the same file as --sink file:{out}" in last_error(capsys.readouterr().err)
    assert main(["run", "--style", "none", "--source", f"file:{clip}", "--stats", str(clip)]) == 2
    assert "that is the source file" in last_error(capsys.readouterr().err)
    assert not out.exists() and count_frames(clip) == 10


def test_serve_refuses_a_recording_over_its_source_or_an_existing_file(tmp_path, make_video, capsys):
    clip = make_video("talk.mkv")
    before = clip.read_bytes()
    base = ["serve", "--style", "none", "--port", "0", "--source", f"file:{clip}"]
    assert main([*base, "--sink", f"file:{clip}", "--overwrite"]) == 2  # refused before it listens: no hang
    assert "that is the source file" in last_error(capsys.readouterr().err)
    kept = tmp_path / "kept.mkv"
    kept.write_bytes(b"keep me")
    assert main([*base, "--sink", f"file:{kept}"]) == 2
    assert "already exists; add --overwrite" in last_error(capsys.readouterr().err)
    assert clip.read_bytes() == before and kept.read_bytes() == b"keep me"
    assert "--overwrite" in livefx("serve", "--help").stdout


def unwritable_paths(tmp_path: Path) -> list[str]:
    """Paths where even root cannot create a file: under a regular file, in a missing folder,
    in /sys and /proc (Linux: no new files there for anyone)."""
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    paths = [str(tmp_path / "notes.txt" / "s.json"), str(tmp_path / "missing" / "s.json")]
    return paths + [f"{root}/livefx-stats.json" for root in ("/sys", "/proc") if Path(root).is_dir()]


@pytest.mark.parametrize("flag", ["--stats", "--events", "--sink"])
def test_outputs_that_cannot_be_written_fail_in_one_line_before_models_load(tmp_path, flag):
    for path in unwritable_paths(tmp_path):
        value = f"file:{path[:-5]}.mp4" if flag == "--sink" else path
        extra = ["--actions", "default"] if flag == "--events" else []
        t0 = time.monotonic()
        # The default style, 100000 frames: had the run started, it would load models and run for minutes.
        proc = livefx("run", "--frames", "100000", flag, value, *extra, timeout=60)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"livefx: error: {flag} {value}: "), proc.stderr
        assert time.monotonic() - t0 < 45
        assert not Path(path).exists()


def test_a_read_only_folder_is_refused_by_trying_it_not_by_permission_bits(tmp_path, capsys):
    sys_dir = Path("/sys")
    if not sys_dir.is_dir():
        pytest.skip("needs Linux's /sys")
    assert main(["run", "--style", "none", "--stats", "/sys/s.json"]) == 2
    assert last_error(capsys.readouterr().err) == (
        "livefx: error: --stats /sys/s.json: cannot create files in folder /sys (Permission denied)"
    )
    assert main(["run", "--style", "none", "--stats", str(tmp_path)]) == 2
    assert f"--stats {tmp_path}: {tmp_path} is a folder; name a file in it" in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == []  # the probe is gone


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full (every write fails: disk full)")
def test_stats_that_cannot_be_written_at_the_end_go_to_stderr_with_the_reason():
    proc = livefx("run", "--frames", "5", "--size", "64x48", "--style", "none", "--stats", "/dev/full")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    err = proc.stderr
    assert "livefx: error: --stats /dev/full: cannot write (No space left on device); the statistics follow:" in err
    document = err[err.index("follow:\n{") + len("follow:\n") :]
    stats = json.loads(document[: document.index("\n}\n") + 2])
    assert stats["frames_in"] == 5 and stats["frames_out"] == 5


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("notes.txt", "meeting notes\n" * 50, "a text file, not a video"),
        ("short.txt", "hi\n", "not a readable video (Invalid data found when processing input)"),
        ("empty.mp4", "", "the file is empty"),
        ("folder", None, "is a folder, not a video file"),
        (".", None, "is a folder, not a video file"),
    ],
)
def test_a_source_that_is_not_a_video_fails_before_models_load(tmp_path, monkeypatch, capsys, name, content, message):
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / name).write_text(content)
    elif name != ".":
        (tmp_path / name).mkdir()
    assert main(["run", "--source", f"file:{name}", "--frames", "100000"]) == 1  # the default style: nothing loads
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and last_error(err).startswith(f"livefx: error: file:{name}: {message}"), err


def test_a_folder_as_the_source_is_one_line_as_a_user_runs_it():
    for spec in ("file:.", f"file:{REPO}"):
        proc = livefx("run", "--source", spec, "--frames", "100000", timeout=60)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert proc.stderr == f"livefx: error: {spec}: is a folder, not a video file; name a video file in it\n"


def test_interpolate_help_names_what_runs_on_the_cpu():
    import torch

    from livefx.models.registry import DEFAULT_RIFE
    from livefx.stream.stages.motion import choose_flow

    assert choose_flow("auto", DEFAULT_RIFE, torch.device("cpu")) == "dis-fast"
    words = " ".join(livefx("run", "--help").stdout.split())
    interpolate = words[words.index("--interpolate [N]") : words.index("--stabilize ")]
    assert "on a CPU with the embedded weights: OpenCV DIS optical flow" in interpolate
    assert "RIFE network" in interpolate and "--flow" in interpolate


def test_offline_summaries_say_no_deadlines_instead_of_misses():
    offline = livefx("run", "--no-realtime", "--frames", "40", "--size", "64x48", "--style", "none",
                     "--log-every", "0.01")  # fmt: skip
    assert offline.returncode == 0, offline.stderr
    assert "misses" not in offline.stderr and "budget" not in offline.stderr
    done = [line for line in offline.stderr.splitlines() if line.startswith("livefx: done:")]
    assert len(done) == 1 and "(offline: no deadlines)" in done[0]
    live = livefx("run", "--frames", "10", "--size", "64x48", "--style", "none", "--fps", "100")
    assert "(budget 100, misses " in next(line for line in live.stderr.splitlines() if "done:" in line)


def test_the_weights_table_lines_up(tmp_path, monkeypatch, capsys):
    import re

    from ..test_switching import student_file

    student_file(tmp_path / "a_style_with_a_rather_long_name.safetensors", 1)
    monkeypatch.setenv("LIVEFX_STYLE_PATH", str(tmp_path))
    assert main(["weights"]) == 0
    out = capsys.readouterr().out
    lines = out[out.index("N  style ") :].strip().splitlines()
    assert len(lines) >= 3 and "a_style_with_a_rather_long_name" in out
    # Numbered as a running stream's ``style N`` counts them.
    from livefx.stream.scheduling.commands import numbered_styles

    assert [line.split()[:2] for line in lines[1:]] == [[str(n), name] for n, name in enumerate(numbered_styles(), 1)]
    # Cells are separated by two spaces or more (a cell holds single spaces at most).
    cells = [[m.span() for m in re.finditer(r"\S+(?: \S+)*", line)] for line in lines]
    assert len({len(row) for row in cells}) == 1, lines
    for column in zip(*cells):
        starts, ends = {span[0] for span in column}, {span[1] for span in column}
        assert len(starts) == 1 or len(ends) == 1, (column, lines)  # left- or right-aligned


def test_serve_refuses_a_certificate_folder_it_cannot_write_before_models_load(tmp_path):
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    proc = livefx("serve", "--https", "--tls-dir", f"{tmp_path}/notes.txt/tls", "--port", "0", timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == (
        f"livefx: error: --tls-dir {tmp_path}/notes.txt/tls: cannot keep the certificate there (Not a directory);"
        " give another --tls-dir\n"
    )
