"""bench.av_sync measures what it claims: ~0 on a clip made in sync, the shift on one made out of it."""

import pytest

from livefx.bench.av_sync import av_offsets, av_pairs, main, write_flash_beep_clip


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_clip_made_in_sync_reads_about_zero(tmp_path, suffix):
    clip = tmp_path / f"c{suffix}"
    instants = write_flash_beep_clip(clip, 4.0, events=(0.8, 1.9, 3.3))
    pairs = av_pairs(clip)
    assert [t for t, _ in pairs] == pytest.approx(instants, abs=1e-3)
    assert max(abs(o) for _, o in pairs) <= 1.0  # ms: sample-accurate beeps, frame-exact flashes


def test_a_clip_made_out_of_sync_reads_the_shift(tmp_path):
    late, early = tmp_path / "late.mp4", tmp_path / "early.mp4"
    write_flash_beep_clip(late, 4.0, events=(0.8, 1.9, 3.3), audio_shift_s=0.04)
    write_flash_beep_clip(early, 4.0, events=(0.8, 1.9, 3.3), audio_shift_s=-0.1)
    assert av_offsets(late) == pytest.approx([-40.0] * 3, abs=1.0)  # the sound comes late
    assert av_offsets(early) == pytest.approx([100.0] * 3, abs=1.0)


def test_the_command_prints_the_offsets(tmp_path, capsys):
    clip = tmp_path / "c.mp4"
    assert main(["--make", str(clip), "--seconds", "3", str(clip)]) == 0
    out = capsys.readouterr().out
    assert "events at 0.800, 1.900 s" in out and "2 events" in out and "median |offset| 0.0 ms" in out
