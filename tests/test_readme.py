"""Docs that run: every ``livefx`` command in README.md's shell blocks, run as written.

What cannot exist on a test machine is replaced, and each replacement is declared here:
``webcam:N`` becomes ``synthetic`` (no camera), the ``virtualcam``, ``virtualmic`` and ``window``
sinks become ``null`` (no v4l2loopback device, no sound server, no display), ``--mic SOURCE`` is
dropped (no sound server; tests/stream/sources/test_microphone.py runs it against a private one),
``file:clip.mp4`` is a real clip written by the test, and live runs get ``--frames 30`` so they end. ``serve`` gets
``--port 0``, is asked for its page, then stopped with SIGTERM. A diffusion style
(``sd:FOLDER``, ``--vae-tiny FOLDER``) becomes the tiny random diffusers folder the tests build
(no real weights here), at ``--size 64x48``.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from .conftest import REPO, count_frames, write_video

SUBSTITUTES = {"virtualcam": "null", "virtualmic": "null", "window": "null"}


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if "livefx " in line:
                commands.append(line[line.index("livefx ") if "=" not in line.split()[0] else 0 :])
    return commands


def test_the_readme_has_commands_to_check():
    assert len(readme_commands()) >= 5


def prepare(command: str, tmp_path: Path, tiny_sd: tuple[Path, Path] | None = None) -> tuple[list[str], dict[str, str]]:
    """The command as argv for this machine, and its environment (declared replacements only)."""
    words = shlex.split(command.split("&& ")[-1])
    env = dict(os.environ)
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        env[name] = str((REPO / value).resolve())
    assert words[0] == "livefx", command
    argv = words[1:]
    if "--mic" in argv:
        del argv[argv.index("--mic") : argv.index("--mic") + 2]
    for i, word in enumerate(argv):
        if word.startswith("webcam"):
            argv[i] = "synthetic"
        elif word in SUBSTITUTES:
            argv[i] = SUBSTITUTES[word]
        elif word == "file:clip.mp4":
            argv[i] = f"file:{write_video(tmp_path / 'clip.mp4', 20, (160, 120))}"
        elif word.startswith("file:"):
            argv[i] = f"file:{tmp_path / word[5:]}"
        elif word.endswith((".json", ".jsonl")):
            argv[i] = str(tmp_path / word)
        elif word.startswith("sd:") and tiny_sd is not None:
            argv[i] = f"sd:{tiny_sd[0]}"
        elif i > 0 and argv[i - 1] == "--vae-tiny" and tiny_sd is not None:
            argv[i] = str(tiny_sd[1])
        elif i > 0 and argv[i - 1] == "--size" and tiny_sd is not None:
            argv[i] = "64x48"
    if argv[0] == "run" and "--no-realtime" not in argv:
        if "--frames" in argv:
            argv[argv.index("--frames") + 1] = "30"
        else:
            argv += ["--frames", "30"]
    return argv, env


@pytest.mark.parametrize("command", readme_commands())
def test_a_readme_command_runs(command, tmp_path, request):
    tiny_sd = request.getfixturevalue("tiny_sd") if "sd:" in command else None
    argv, env = prepare(command, tmp_path, tiny_sd)
    if "LIVEFX_STYLE_PATH" in command and not Path(env["LIVEFX_STYLE_PATH"]).is_dir():
        pytest.skip(f"{env['LIVEFX_STYLE_PATH']} is absent (the ../shared teachers)")
    base = [sys.executable, "-m", "livefx.stream"]
    if argv[0] == "serve":
        proc = subprocess.Popen([*base, *argv, "--port", "0"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
        try:
            for line in proc.stderr:
                if "open http" in line:
                    url = line.split("open ")[1].split(" ")[0]
                    break
            else:
                pytest.fail(f"serve never printed its URL: {command}")
            with urllib.request.urlopen(url, timeout=10) as page:
                assert page.status == 200 and b"livefx" in page.read()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)
        assert proc.returncode == 0, command
        return
    proc = subprocess.run([*base, *argv], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{command}\n{proc.stderr[-2000:]}"
    for word in argv:
        if word.startswith("file:") and str(tmp_path) in word and "clip.mp4" not in word:
            assert count_frames(Path(word[5:])) > 0, word
