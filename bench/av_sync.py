"""A/V offset of a recording: flashes in the picture against beeps in the sound.

    python -m bench.av_sync FILE [FILE ...]     # offsets (video minus audio, ms) of each file
    python -m bench.av_sync --make clip.mp4     # write a flash/beep clip (mp4: AAC, mkv: Opus)

``write_flash_beep_clip`` makes a procedural clip (no camera, no real video): a dark picture
that turns white (inside a dark border) for one frame at each event instant, and a 48 kHz
track with a short 1 kHz beep starting at the same instants. The gaps between events differ,
so a slip by a whole period cannot pair the wrong flash with a beep. ``av_offsets`` decodes
any file, finds the flash onsets (the frame whose picture jumps away from the usual one: its
mean luma, plain; a style network, which normalizes brightness away, still shows the
border's shape) and the beep onsets (first sample over a quarter of the loudest, sample
accurate), pairs each flash with the nearest beep and returns video minus audio in ms:
positive when the picture comes late. Both sides are placed on the
file's own timestamps, the way a player places them (an encoder's priming samples are
accounted for by the first packet's pts).
"""

from __future__ import annotations

import argparse
import statistics
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AUDIO_RATE = 48_000
BEEP_HZ = 1000.0
BEEP_S = 0.06
#: The default event instants (s): uneven gaps, none a multiple of another.
DEFAULT_EVENTS = (0.8, 1.9, 3.3, 4.2, 5.4)
#: Luma of the dark picture and of a flash.
DARK, WHITE = 24, 235
#: The pictures are compared at this size (enough to see a flash, little memory).
PROBE_SIZE = (80, 60)
#: Audio codec per container for the clip.
CLIP_AUDIO = {".mp4": "aac", ".mkv": "libopus", ".mov": "aac"}


def write_flash_beep_clip(
    path: str | Path,
    seconds: float = 6.0,
    fps: int = 30,
    size: tuple[int, int] = (320, 240),
    events: tuple[float, ...] = DEFAULT_EVENTS,
    audio_shift_s: float = 0.0,
    flash_frames: int = 1,
) -> list[float]:
    """Write the clip (H.264 + AAC in mp4/mov, + Opus in mkv); returns the event instants,
    snapped to frame times (a flash can only start on a frame). ``audio_shift_s`` moves
    the beeps later by that much (a clip known to be out of sync). ``flash_frames``: how many
    frames each flash lasts (a recorder that drops frames under load still keeps one of them;
    the onset is then late by the frames it dropped)."""
    path = Path(path)
    acodec = CLIP_AUDIO.get(path.suffix.lower())
    if acodec is None:
        raise ValueError(f"{path}: use one of {', '.join(CLIP_AUDIO)}")
    frames = round(seconds * fps)
    starts = sorted({round(t * fps) for t in events if 0 <= round(t * fps) < frames})
    instants = [i / fps for i in starts]
    lit = {i + k for i in starts for k in range(flash_frames)}
    samples = _beeps([t + audio_shift_s for t in instants], round(seconds * AUDIO_RATE))
    w, h = size
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        video.options = {"preset": "ultrafast", "bf": "0"}
        audio = out.add_stream(acodec, rate=AUDIO_RATE, layout="stereo")
        step = 960
        a_next = 0
        for i in range(frames):
            # Interleave: the sound up to this frame's time, then the frame.
            until = min(len(samples), round((i + 1) / fps * AUDIO_RATE))
            while a_next < until:
                n = min(step, len(samples) - a_next)
                chunk = np.repeat(samples[a_next : a_next + n], 2).reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
                frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, a_next, Fraction(1, AUDIO_RATE)
                out.mux(audio.encode(frame))
                a_next += n
            picture = av.VideoFrame.from_ndarray(_picture(w, h, i in lit), format="rgb24")
            picture.pts, picture.time_base = i, Fraction(1, fps)
            out.mux(video.encode(picture))
        out.mux(video.encode())
        out.mux(audio.encode())
    return instants


def _picture(w: int, h: int, flash: bool) -> np.ndarray:
    image = np.full((h, w, 3), DARK, np.uint8)
    if flash:
        image[h // 8 : h - h // 8, w // 8 : w - w // 8] = WHITE
    return image


def _beeps(instants: list[float], n: int) -> np.ndarray:
    t = np.arange(n) / AUDIO_RATE
    on = np.zeros(n, bool)
    for start in instants:
        on |= (t >= start) & (t < start + BEEP_S)
    return (on * 0.5 * 32767 * np.sin(2 * np.pi * BEEP_HZ * t)).astype(np.int16)


def decode_tracks(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, int]:
    """(video times s, small gray pictures, audio envelope per sample, audio start s, audio rate)."""
    times: list[float] = []
    pictures: list[np.ndarray] = []
    pieces: list[tuple[float, np.ndarray, int]] = []
    with av.open(str(path)) as container:
        if not container.streams.video or not container.streams.audio:
            raise ValueError(f"{path}: needs a video and an audio stream")
        vs, as_ = container.streams.video[0], container.streams.audio[0]
        for packet in container.demux(vs, as_):
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    times.append(float(frame.time))
                    small = frame.reformat(*PROBE_SIZE, format="gray")
                    pictures.append(small.to_ndarray().astype(np.float32))
                else:
                    x = frame.to_ndarray().astype(np.float32)
                    if not frame.format.is_planar:
                        x = x.reshape(-1, frame.layout.nb_channels).T
                    pieces.append((float(frame.time), np.abs(x).max(axis=0), frame.sample_rate))
    if not times or not pieces:
        raise ValueError(f"{path}: no decodable video or audio")
    order = np.argsort(times)
    rate = pieces[0][2]
    t0 = pieces[0][0]
    end = max(round((t - t0) * rate) + len(e) for t, e, _ in pieces)
    envelope = np.zeros(end, np.float32)
    for t, e, _ in pieces:  # each frame at its own pts: robust to gaps
        i = round((t - t0) * rate)
        envelope[i : i + len(e)] = e
    return np.asarray(times)[order], np.asarray(pictures)[order], envelope, t0, rate


def flash_onsets(times: np.ndarray, pictures: np.ndarray) -> list[float]:
    """Times of the frames that move more than halfway from the usual picture (the median
    one) to the most different, after one that did not."""
    usual = np.median(pictures, axis=0)
    distance = np.abs(pictures - usual).mean(axis=(1, 2))
    if distance.max() < 8:  # no flash at all (grain and encoding noise stay far below)
        return []
    away = distance > distance.max() / 2
    return [float(times[i]) for i in range(len(times)) if away[i] and (i == 0 or not away[i - 1])]


def beep_onsets(envelope: np.ndarray, t0: float, rate: int = AUDIO_RATE, quiet_s: float = 0.2) -> list[float]:
    """Times of the first sample over a quarter of the loudest after at least ``quiet_s`` of quiet."""
    loud = np.flatnonzero(envelope > 0.25 * float(envelope.max()))
    onsets: list[float] = []
    last = -(10**12)
    for i in loud:
        if i - last > quiet_s * rate:
            onsets.append(t0 + i / rate)
        last = i
    return onsets


def av_pairs(path: str | Path, max_pair_s: float = 0.3) -> list[tuple[float, float]]:
    """(flash time s, video minus audio ms) for each flash paired with a beep within ``max_pair_s``."""
    times, pictures, envelope, t0, rate = decode_tracks(path)
    beeps = np.asarray(beep_onsets(envelope, t0, rate))
    pairs: list[tuple[float, float]] = []
    for flash in flash_onsets(times, pictures):
        if not len(beeps):
            break
        nearest = float(beeps[np.abs(beeps - flash).argmin()])
        if abs(flash - nearest) <= max_pair_s:
            pairs.append((flash, round(1000 * (flash - nearest), 3)))
    return pairs


def av_offsets(path: str | Path, max_pair_s: float = 0.3) -> list[float]:
    """Video minus audio (ms) for each flash paired with a beep within ``max_pair_s``."""
    return [offset for _, offset in av_pairs(path, max_pair_s)]


def median_abs(offsets: list[float]) -> float:
    """Median |offset| (ms); inf when nothing was paired."""
    return statistics.median(abs(o) for o in offsets) if offsets else float("inf")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--make", type=Path, metavar="PATH", help="write a flash/beep clip here first")
    ap.add_argument("--seconds", type=float, default=6.0)
    args = ap.parse_args(argv)
    if args.make:
        instants = write_flash_beep_clip(args.make, args.seconds)
        print(f"{args.make}: events at {', '.join(f'{t:.3f}' for t in instants)} s")
    for path in args.files:
        offsets = av_offsets(path)
        print(
            f"{path}: {len(offsets)} events, video - audio ms {offsets}, median |offset| {median_abs(offsets):.1f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
