"""A virtual camera (Zoom, Meet, OBS) through pyvirtualcam; v4l2loopback on Linux."""

from __future__ import annotations

from ..errors import SinkError
from ..frame import Frame
from .base import FixedSize, Sink

FIX_HINT = {
    "linux": "install v4l2loopback and load it: sudo modprobe v4l2loopback devices=1"
    " exclusive_caps=1 card_label=livefx",
    "darwin": "install OBS Studio and start its virtual camera once",
    "win32": "install OBS Studio (or Unity Capture) and start its virtual camera once",
}


class VirtualCamSink(Sink):
    """``virtualcam[:DEVICE]``; ``backend`` picks a pyvirtualcam backend by name."""

    def __init__(self, device: str | None = None, backend: str | None = None) -> None:
        self.device = device
        self.backend = backend
        self.spec = "virtualcam" + (f":{device}" if device else "")
        self._cam = None
        self._fit: FixedSize | None = None

    def open(self, width: int, height: int, fps: float) -> None:
        import sys

        try:
            import pyvirtualcam
        except ImportError:
            raise SinkError(f"{self.spec}: pyvirtualcam is not installed; pip install pyvirtualcam") from None
        try:
            self._cam = pyvirtualcam.Camera(
                width,
                height,
                fps,
                fmt=pyvirtualcam.PixelFormat.RGB,
                device=self.device,
                backend=self.backend,
            )
        except Exception as exc:  # noqa: BLE001 - pyvirtualcam raises RuntimeError/ValueError
            hint = FIX_HINT.get(sys.platform, "install a virtual camera driver")
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SinkError(f"{self.spec}: no virtual camera available ({reason}); {hint}") from None
        self._fit = FixedSize(self.spec, width, height)

    def write(self, frame: Frame) -> None:
        assert self._cam is not None and self._fit is not None
        self._cam.send(self._fit.fit(frame.image))

    @property
    def device_name(self) -> str | None:
        return self._cam.device if self._cam is not None else None

    def close(self) -> None:
        if self._cam is not None:
            self._cam.close()
            self._cam = None
