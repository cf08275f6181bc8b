"""A minimal Marionette client for driving Debian's headless Firefox in end-to-end tests.

Same surface as ``cdp.Browser`` (goto, evaluate, screenshot, close) so one test body runs
in both browsers. Marionette is Firefox's built-in remote protocol: length-prefixed JSON
``[0, id, command, params]`` requests and ``[1, id, error, result]`` replies.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .cdp import stop_browser

PREFS = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.autoplay.default": 0,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "app.update.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "extensions.update.enabled": False,
    "browser.startup.homepage_override.mstone": "ignore",
}


def find_firefox() -> str | None:
    for name in ("firefox-esr", "firefox"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Firefox:
    def __init__(self, executable: str) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="livefx-firefox-"))
        port = _free_port()
        prefs = {**PREFS, "marionette.port": port}
        (self.profile / "user.js").write_text(
            "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())
        )
        self.proc = subprocess.Popen(
            [
                executable,
                "--headless",
                "--marionette",
                "--no-remote",
                "--profile",
                str(self.profile),
                "--width",
                "1280",
                "--height",
                "900",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.close()
                    raise RuntimeError("firefox did not start") from None
                time.sleep(0.2)
        self._buf = b""
        self._read()  # the server's greeting
        self._id = 0
        self.call("WebDriver:NewSession", capabilities={"alwaysMatch": {"acceptInsecureCerts": True}})

    def _read(self):
        while b":" not in self._buf:
            self._buf += self.sock.recv(65536)
        length, _, rest = self._buf.partition(b":")
        n = int(length)
        while len(rest) < n:
            rest += self.sock.recv(65536)
        self._buf = rest[n:]
        return json.loads(rest[:n])

    def call(self, command: str, **params):
        self._id += 1
        data = json.dumps([0, self._id, command, params]).encode()
        self.sock.sendall(str(len(data)).encode() + b":" + data)
        while True:
            msg = self._read()
            if isinstance(msg, list) and msg[0] == 1 and msg[1] == self._id:
                if msg[2]:
                    raise RuntimeError(f"{command}: {msg[2].get('message', msg[2])}")
                return msg[3]

    def goto(self, url: str) -> None:
        self.call("WebDriver:Navigate", url=url)

    def evaluate(self, expression: str):
        script = f"const done = arguments[arguments.length - 1]; Promise.resolve(({expression})).then(done);"
        return self.call("WebDriver:ExecuteAsyncScript", script=script, args=[]).get("value")

    def screenshot(self, path: Path) -> Path:
        path.write_bytes(base64.b64decode(self.call("WebDriver:TakeScreenshot", full=False)["value"]))
        return path

    def close(self) -> None:
        try:
            if getattr(self, "sock", None) is not None:
                self.call("WebDriver:DeleteSession")
                self.sock.close()
        except (OSError, RuntimeError):
            pass
        stop_browser(self.proc, self.profile)
