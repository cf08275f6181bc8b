"""The page's timing band: rows outside the picture that carry a frame code, for the page only.

The page measures capture -> display latency by drawing a code on every frame it sends and
reading it back from the video it gets. The code never covers the picture: the page sends
its camera picture with ``rows`` extra rows above it (the band) and declares that layout
(the ``marker`` message: the canvas ``width`` x ``height``, band included, and ``rows``).
On arrival the band is cut off (``split``), so the models, the stats, the frame size and
every sink see the picture only; the band is kept by the frame's sequence number and put
back above each processed frame of that input frame (its in-between frames too) only on
the way out to that page (``attach``).

The band's top half holds the code; its bottom half is an apron that repeats the picture's
top row (the page draws it so on the way in; ``attach`` draws it again from the processed
picture on the way out), so the coders' filters across the band's edge, and a display that
crops the band off, blend the picture only with itself.

A frame that arrives without the band (the page sends its plain camera while its tab is
hidden, or before it declared the band) is told apart by its shape, so a picture is never
cut; an encoder that scaled the stream down scales the band with it, and it is cut to scale.
The band goes back ``rows`` rows tall and as wide as the processed picture.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import cv2
import numpy as np

from ..frame import Frame

#: The most band rows a page may declare (the page uses 16: one row of 16x16 coding blocks).
MAX_BAND_ROWS = 64
#: Bands kept for frames read but not yet sent (a worker far behind loses its oldest ones).
KEEP = 256


class TimingBand:
    """The band layout a page declared, and the bands of the frames on their way through."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        #: (width, height, rows) of the frames the page sends; None: no band.
        self._layout: tuple[int, int, int] | None = None
        #: seq -> the band read with that frame (None: that frame came without one).
        self._bands: OrderedDict[int, np.ndarray | None] = OrderedDict()
        self._latest_had_band = False

    def declare(self, width: int, height: int, rows: int) -> None:
        """The page sends ``width`` x ``height`` frames whose top ``rows`` rows are the band
        (``rows`` 0: no band from now on)."""
        if rows == 0:
            with self._lock:
                self._layout = None
            return
        if not 0 < rows <= MAX_BAND_ROWS or rows % 2 or width <= 0 or height <= rows:
            raise ValueError(
                f"a timing band of {rows} rows in {width}x{height} frames: use an even number of rows,"
                f" at most {MAX_BAND_ROWS}, in frames taller than the band"
            )
        with self._lock:
            self._layout = (width, height, rows)

    @property
    def rows(self) -> int:
        """The band's height as sent back (0: no band declared)."""
        layout = self._layout
        return layout[2] if layout is not None else 0

    def rows_in(self, width: int, height: int) -> int:
        """How many top rows of a received ``width`` x ``height`` frame are band (0: none):
        a frame shaped like the declared canvas (at any scale) has the band, one shaped like
        the picture alone does not."""
        layout = self._layout
        if layout is None:
            return 0
        declared_w, declared_h, rows = layout
        scale = width / declared_w
        if abs(height - declared_h * scale) > abs(height - (declared_h - rows) * scale):
            return 0  # the plain picture (a hidden page sends its camera as it is)
        cut = max(2, 2 * round(rows * scale / 2))  # even: 4:2:0 chroma rows stay whole
        return cut if cut < height else 0

    def split(self, seq: int, image: np.ndarray, cut: int, size: tuple[int, int] | None = None) -> np.ndarray:
        """The picture of frame ``seq`` (``image`` below its ``cut`` band rows), scaled to
        ``size`` (width, height) if given; its band is kept for ``attach``."""
        picture, band = image[cut:], image[:cut]
        if size is not None and (picture.shape[1], picture.shape[0]) != size:
            picture = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
        rows = self.rows or cut
        if band.shape[:2] != (rows, picture.shape[1]):
            band = cv2.resize(band, (picture.shape[1], rows), interpolation=cv2.INTER_LINEAR)
        self._keep(seq, band.copy())  # a copy: a view would keep the whole received frame alive
        return picture

    def no_band(self, seq: int) -> None:
        """Frame ``seq`` came without a band: it goes back without one."""
        self._keep(seq, None)

    def _keep(self, seq: int, band: np.ndarray | None) -> None:
        with self._lock:
            self._bands[seq] = band
            self._latest_had_band = band is not None
            while len(self._bands) > self.keep:
                self._bands.popitem(last=False)

    def attach(self, frame: Frame) -> np.ndarray:
        """The image to send for ``frame``: its band on top when its input frame had one.
        In-between frames share their input frame's ``seq``, so they carry its band too."""
        with self._lock:
            while self._bands and next(iter(self._bands)) < frame.seq:
                self._bands.popitem(last=False)  # frames dropped before processing: never sent
            band = self._bands[frame.seq] if frame.seq in self._bands else self._blank(frame)
        if band is None:
            return frame.image
        if band.shape[1] != frame.width:
            band = cv2.resize(band, (frame.width, band.shape[0]), interpolation=cv2.INTER_LINEAR)
        rows, code = band.shape[0], band.shape[0] // 2
        out = np.empty((rows + frame.height, frame.width, 3), np.uint8)
        out[:code] = band[:code]
        out[code:rows] = frame.image[:1]  # the apron: the processed picture's top row
        out[rows:] = frame.image
        return out

    def _blank(self, frame: Frame) -> np.ndarray | None:
        """A band with no code, for a frame whose own band is gone: the video keeps one size
        (a size change costs the encoder a key frame) and the page reads no code from it."""
        if not self._latest_had_band or self._layout is None:
            return None
        return np.zeros((self._layout[2], frame.width, 3), np.uint8)
