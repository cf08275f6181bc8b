"""HTTPS for serve: a self-signed certificate made once and reused, pages and websocket over TLS."""

import asyncio
import json
import ssl
import stat
import urllib.request

import pytest
import websockets

from livefx.stream.errors import UsageError
from livefx.stream.server.tls import self_signed, server_context

from .test_app import with_server


def test_the_self_signed_certificate_is_made_once_for_the_hosts_and_its_key_kept_private(tmp_path):
    cert, key = self_signed(tmp_path, ["192.0.2.7"])
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    again = self_signed(tmp_path, ["192.0.2.7"])
    assert again == (cert, key) and cert.read_bytes() == again[0].read_bytes()  # reused
    first = cert.read_bytes()
    self_signed(tmp_path, ["192.0.2.8"])  # a new address: a new certificate naming it
    assert cert.read_bytes() != first
    server_context(cert, key)  # loads


def test_a_certificate_that_does_not_match_its_key_is_a_clear_error(tmp_path):
    cert, _ = self_signed(tmp_path / "a", [])
    _, other_key = self_signed(tmp_path / "b", [])
    with pytest.raises(UsageError, match="not usable with the key") as err:
        server_context(cert, other_key)
    assert err.value.for_cli().startswith("--cert ")


def test_page_assets_and_websocket_over_tls_with_a_secure_cookie(tmp_path):
    cert, key = self_signed(tmp_path, [])
    client = ssl.create_default_context(cafile=str(cert))

    def get(url):
        with urllib.request.urlopen(url, timeout=5, context=client) as r:
            return r.status, r.headers.get("Set-Cookie")

    async def check(server):
        assert server.url("/").startswith("https://127.0.0.1:")
        loop = asyncio.get_running_loop()
        page = await loop.run_in_executor(None, get, server.url("/"))
        async with websockets.connect(f"wss://127.0.0.1:{server.port}/ws?token=t0k", ssl=client) as ws:
            hello = json.loads(await ws.recv())
        return page, hello

    page, hello = asyncio.run(with_server(check, token="t0k", tls=server_context(cert, key)))
    assert page[0] == 200 and "Secure" in page[1]
    assert hello["type"] == "hello"
