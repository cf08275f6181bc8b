"""Sound and pictures in sync through ``livefx run`` (issue 33): a clip with a flash and a
beep at the same instants, recorded offline and live; offsets from ``bench.av_sync``."""

import json
import signal
import statistics
import subprocess
import sys
import time

import av
import pytest

from livefx.bench.av_sync import av_pairs

from ...conftest import REPO

OFFLINE_MS, LIVE_MS = 20.0, 45.0  # issue 33's targets for median |video - audio|


def livefx(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "livefx.stream", "run", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def median_offset(path, at_least: int) -> float:
    pairs = av_pairs(path)
    offsets = [offset for _, offset in pairs]
    print(f"{path.name}: video - audio ms {offsets}")
    assert len(pairs) >= at_least, f"{path.name}: only {len(pairs)} flashes paired with beeps"
    return statistics.median(abs(o) for o in offsets)


def audio_codec(path) -> str:
    with av.open(str(path)) as container:
        return container.streams.audio[0].codec_context.name


def test_offline_recordings_keep_the_sound_in_sync_and_a_y4m_says_it_has_none(flash_beep_clip, tmp_path):
    clip = flash_beep_clip(".mp4", 6.0)
    mp4, mkv, y4m, stats = tmp_path / "o.mp4", tmp_path / "o.mkv", tmp_path / "o.y4m", tmp_path / "s.json"
    proc = livefx("--source", f"file:{clip}", "--no-realtime", "--style", "none", "--sink", f"file:{mp4}",
                  "--sink", f"file:{mkv}", "--sink", f"file:{y4m}", "--stats", str(stats),
                  "--log-every", "0")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (audio_codec(mp4), audio_codec(mkv)) == ("aac", "opus")
    for out in (mp4, mkv):
        assert median_offset(out, at_least=5) <= OFFLINE_MS
    notices = [line for line in proc.stderr.splitlines() if "video only" in line]
    assert notices == [f"livefx: file:{y4m}: video only; it cannot hold the sound of file:{clip}"]
    audio = json.loads(stats.read_text())["audio"]
    assert audio["chunks_dropped"] == 0 and audio["chunks_in"] > 250
    assert {spec: c["written"] for spec, c in audio["sinks"].items()} == {
        f"file:{mp4}": audio["chunks_in"],
        f"file:{mkv}": audio["chunks_in"],
    }


def test_offline_with_the_default_style_keeps_the_sound_in_sync(flash_beep_clip, tmp_path):
    clip, out = flash_beep_clip(".mp4", 6.0), tmp_path / "styled.mp4"
    proc = livefx("--source", f"file:{clip}", "--no-realtime", "--size", "320x240", "--sink", f"file:{out}",
                  "--log-every", "0")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert median_offset(out, at_least=5) <= OFFLINE_MS


def test_a_live_recording_keeps_the_sound_in_sync(flash_beep_clip, tmp_path):
    """Real time: frames the worker is too late for are dropped (a dropped flash is simply
    not paired), the sound goes on."""
    clip, out = flash_beep_clip(".mp4", 6.0), tmp_path / "rec.mkv"
    proc = livefx("--source", f"file:{clip}", "--style", "none", "--sink", f"file:{out}", "--log-every", "0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert median_offset(out, at_least=3) <= LIVE_MS


def _fragments(path) -> int:
    return path.read_bytes().count(b"moof") if path.exists() else 0


def test_a_looping_live_recording_stopped_by_sigterm_is_readable_and_in_sync(flash_beep_clip, tmp_path):
    """The 6 s clip looped live into mp4, stopped with SIGTERM once more than a pass is on
    disk: the file is finished, and the second pass's flashes still meet their beeps."""
    clip, out = flash_beep_clip(".mp4", 6.0), tmp_path / "rec.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "livefx.stream", "run", "--source", f"file:{clip}", "--loop", "--style", "none",
         "--sink", f"file:{out}", "--log-every", "0"],
        cwd=REPO, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120  # a hang guard, not a speed check
    while _fragments(out) < 16 and proc.poll() is None and time.monotonic() < deadline:  # 16 x 0.5 s > one pass
        time.sleep(0.05)
    if _fragments(out) < 16:
        proc.kill()
        pytest.fail(f"the recording did not pass 8 s: {proc.communicate()[1][-2000:]}")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert "stopping (SIGTERM)" in err
    assert audio_codec(out) == "aac"
    assert median_offset(out, at_least=3) <= LIVE_MS
    assert any(t > 6.0 for t, _ in av_pairs(out))  # the looped pass is in sync too
