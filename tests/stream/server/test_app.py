"""The HTTP side and the websocket rules, against a real server on loopback."""

import asyncio
import json
import re
import urllib.error
import urllib.request

import pytest
import torch
import websockets

from livefx.stream.device import FrameConverter
from livefx.stream.server.app import LivefxServer
from livefx.stream.server.session import SessionSettings
from livefx.stream.server.static import resolve

from ...conftest import REPO

WEB = REPO / "web"


def settings():
    return SessionSettings(FrameConverter(torch.device("cpu"), torch.float32), None, size=(64, 48), backend="eager")


def http_get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers["Content-Type"], r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read().decode()


async def with_server(check, session_settings: SessionSettings | None = None, **kw):
    server = LivefxServer(session_settings or settings(), port=0, **kw)
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.ensure_future(server.serve(ready, stop))
    await ready.wait()
    try:
        return await check(server)
    finally:
        stop.set()
        await task


def test_static_resolution_never_leaves_web():
    assert resolve("/") is not None and resolve("/").name == "index.html"
    for bad in [
        "/../pyproject.toml",
        "/..%2fpyproject.toml",
        "/%2e%2e/stream/cli.py",
        "/__init__.py",
        "/nope.html",
        "/a%00.html",
    ]:
        assert resolve(bad) is None, bad


def test_serves_pages_and_refuses_the_rest():
    async def check(server):
        base = f"http://127.0.0.1:{server.port}"
        loop = asyncio.get_running_loop()
        page = await loop.run_in_executor(None, http_get, base + "/")
        missing = await loop.run_in_executor(None, http_get, base + "/../../etc/passwd")
        return page, missing

    page, missing = asyncio.run(with_server(check))
    assert page[0] == 200 and page[1].startswith("text/html") and "livefx" in page[2]
    assert missing[0] == 404


def test_token_is_required_everywhere_when_set():
    async def check(server):
        base = f"http://127.0.0.1:{server.port}"
        loop = asyncio.get_running_loop()
        without = await loop.run_in_executor(None, http_get, base + "/")
        with_token = await loop.run_in_executor(None, http_get, base + "/?token=t0k")
        with pytest.raises(websockets.exceptions.InvalidStatus):
            async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws"):
                pass
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws?token=t0k") as ws:
            hello = json.loads(await ws.recv())
        return without, with_token, hello

    without, with_token, hello = asyncio.run(with_server(check, token="t0k"))
    assert without[0] == 403 and "token" in without[2]
    assert with_token[0] == 200
    assert hello["type"] == "hello"


def test_the_page_url_token_becomes_a_cookie_that_covers_assets_and_the_websocket():
    def get(url, cookie=None):
        request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                return r.status, r.headers.get("Set-Cookie")
        except urllib.error.HTTPError as e:
            return e.code, None

    async def check(server):
        base = f"http://127.0.0.1:{server.port}"
        loop = asyncio.get_running_loop()
        page = await loop.run_in_executor(None, get, base + "/?token=t0k")
        cookie = page[1].split(";")[0]
        assets = [await loop.run_in_executor(None, get, base + p, cookie) for p in ("/app.js", "/style.css")]
        bare = await loop.run_in_executor(None, get, base + "/app.js")
        wrong = await loop.run_in_executor(None, get, base + "/app.js", "livefx_token=nope")
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws", additional_headers={"Cookie": cookie}) as ws:
            hello = json.loads(await ws.recv())
        with pytest.raises(websockets.exceptions.InvalidStatus):
            async with websockets.connect(
                f"ws://127.0.0.1:{server.port}/ws", additional_headers={"Cookie": "livefx_token=nope"}
            ):
                pass
        return page, assets, bare, wrong, hello

    page, assets, bare, wrong, hello = asyncio.run(with_server(check, token="t0k"))
    assert page[0] == 200 and page[1].startswith("livefx_token=t0k;") and "HttpOnly" in page[1]
    assert [status for status, _ in assets] == [200, 200]
    assert bare[0] == 403 and wrong[0] == 403
    assert hello["type"] == "hello"


def test_foreign_origin_is_refused():
    async def check(server):
        with pytest.raises(websockets.exceptions.InvalidStatus) as info:
            async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws", origin="http://evil.example"):
                pass
        return info.value.response.status_code

    assert asyncio.run(with_server(check)) == 403


def test_busy_past_max_sessions_and_oversized_messages():
    async def check(server):
        url = f"ws://127.0.0.1:{server.port}/ws"
        async with websockets.connect(url) as first:
            await first.recv()  # hello
            async with websockets.connect(url) as second:
                busy = json.loads(await second.recv())
            await first.send(json.dumps({"type": "offer", "sdp": "x" * 100_000}))
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await first.recv()
            return busy, closed.value.rcvd.code

    busy, code = asyncio.run(with_server(check, max_sessions=1))
    assert busy["type"] == "error" and busy["message"].startswith("busy:")
    assert code == 1009  # message too big


def test_bad_offer_and_early_messages_get_errors():
    async def check(server):
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
            await ws.recv()
            replies = []
            for msg in [
                {"type": "offer", "sdp": "garbage"},
                {"type": "budget", "ms": 50},
                {"type": "candidate", "candidate": "candidate:1 1 udp 1 1.2.3.4 5 typ host"},
            ]:
                await ws.send(json.dumps(msg))
                replies.append(json.loads(await ws.recv()))
            await ws.send(json.dumps({"type": "ping"}))
            replies.append(json.loads(await ws.recv()))
            return replies

    replies = asyncio.run(with_server(check))
    assert replies[0]["type"] == "error" and "invalid offer" in replies[0]["message"]
    assert replies[1]["type"] == "error" and "send an offer first" in replies[1]["message"]
    assert replies[2]["type"] == "error"
    assert replies[3]["type"] == "pong"


def test_hello_lists_every_shipped_style_and_those_on_the_search_path(tmp_path, monkeypatch):
    from livefx.models.registry import EMBEDDED_STYLES_DIR

    from ..test_switching import student_file

    student_file(tmp_path / "mine.safetensors", 1)
    monkeypatch.setenv("LIVEFX_STYLE_PATH", str(tmp_path))

    async def check(server):
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
            return json.loads(await ws.recv())

    hello = asyncio.run(with_server(check))
    shipped = sorted(p.stem for p in EMBEDDED_STYLES_DIR.glob("*.safetensors"))
    assert len(shipped) >= 3  # the product ships at least three styles
    assert set(shipped) | {"mine"} <= set(hello["styles"])


def test_pages_carry_a_content_security_policy_and_leak_no_referrer():
    def headers(url: str):
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.headers

    async def check(server):
        base = f"http://127.0.0.1:{server.port}"
        loop = asyncio.get_running_loop()
        return [await loop.run_in_executor(None, headers, base + p) for p in ("/", "/app.js", "/overlay.html")]

    for h in asyncio.run(with_server(check)):
        csp = h["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "object-src 'none'" in csp and "'unsafe-inline'" not in csp
        assert re.search(r"connect-src 'self' ws://127\.0\.0\.1:\d+ wss://127\.0\.0\.1:\d+;", csp)
        assert h["X-Content-Type-Options"] == "nosniff" and h["Referrer-Policy"] == "no-referrer"


def test_pages_need_nothing_their_policy_forbids():
    """No inline script, style block, handler attribute or javascript: URL in the pages."""
    for page in WEB.glob("*.html"):
        html = page.read_text()
        assert "<style" not in html and " style=" not in html and "javascript:" not in html, page.name
        assert all(tag.startswith("<script src=") for tag in re.findall(r"<script[^>]*>", html)), page.name
        assert not re.search(r"\son[a-z]+=", html), page.name
    for script in WEB.glob("*.js"):  # nor code built from strings, nor inline styles set as text
        code = script.read_text()
        assert not re.search(r"\beval\(|new Function\(|setAttribute\(\s*[\"']style|\.style\.cssText", code), script.name


def test_a_host_header_cannot_inject_into_the_policy():
    from livefx.stream.server.routes import content_security_policy

    assert "evil" not in content_security_policy("x; script-src evil.example")
    assert "ws://[::1]:8080" in content_security_policy("[::1]:8080")


def test_a_client_that_vanishes_without_a_goodbye_is_freed():
    import socket
    import time

    async def check(server):
        loop = asyncio.get_running_loop()

        def silent_client() -> socket.socket:
            """A websocket handshake, then silence: no pongs, no close (a lost network)."""
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(
                b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            assert b"101" in sock.recv(4096).split(b"\r\n")[0]
            return sock

        sock = await loop.run_in_executor(None, silent_client)
        for _ in range(600):  # up to 30 s: a hang guard on a busy machine
            if server.sessions:
                break
            await asyncio.sleep(0.05)
        joined = len(server.sessions)
        t0 = time.monotonic()
        while server.sessions and time.monotonic() - t0 < 30:
            await asyncio.sleep(0.1)
        sock.close()
        return joined, len(server.sessions)

    joined, left = asyncio.run(with_server(check, ping_every_s=0.5))
    assert joined == 1 and left == 0


async def offer_without_a_direction() -> str:
    """A real offer with its direction moved out of the video section: aiortc accepts it as
    the remote description, then cannot pair directions when answering (found by the fuzz)."""
    from aiortc import RTCPeerConnection

    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    lines = pc.localDescription.sdp.splitlines()
    await pc.close()
    lines.remove("a=sendrecv")
    lines.insert(lines.index(next(line for line in lines if line.startswith("m=video"))), "a=sendrecv")
    return "\r\n".join(lines) + "\r\n"


def test_an_offer_that_cannot_be_answered_is_refused_and_a_good_one_can_follow():
    from aiortc import RTCPeerConnection

    async def check(server):
        bad = await offer_without_a_direction()
        good_pc = RTCPeerConnection()
        good_pc.addTransceiver("video", direction="recvonly")
        await good_pc.setLocalDescription(await good_pc.createOffer())
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "offer", "sdp": bad}))
            refused = json.loads(await ws.recv())
            sessions_after_refusal = [s.pc for s in server.sessions]
            await ws.send(json.dumps({"type": "offer", "sdp": good_pc.localDescription.sdp}))
            while (answer := json.loads(await asyncio.wait_for(ws.recv(), 120)))["type"] not in ("answer", "error"):
                pass
        await good_pc.close()
        return refused, sessions_after_refusal, answer

    refused, sessions_after_refusal, answer = asyncio.run(with_server(check))
    assert refused["type"] == "error" and refused["message"].startswith("invalid offer")
    assert "internal error" not in refused["message"]
    assert sessions_after_refusal == [None]  # nothing half-built is kept
    assert answer["type"] == "answer"
