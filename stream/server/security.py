"""Safe defaults for a server others can reach: loopback unless told, tokens otherwise."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, urlsplit

#: The cookie a page opened with ``?token=`` gets, so its scripts, styles and websocket
#: (which the browser fetches without the query) are let in too.
TOKEN_COOKIE = "livefx_token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_for(host: str, token: str | None) -> str | None:
    """The token a server on ``host`` requires: the given one, a fresh one when the host is
    reachable from other machines, or None on loopback without one."""
    if token:
        return token
    return None if is_loopback(host) else secrets.token_urlsafe(18)


def token_ok(path: str, expected: str | None, cookie_header: str | None = None) -> bool:
    """True when no token is required, or ``?token=`` or the token cookie matches (constant-time)."""
    if expected is None:
        return True
    given = parse_qs(urlsplit(path).query).get("token", [""])[0]
    if hmac.compare_digest(given.encode(), expected.encode()):
        return True
    return hmac.compare_digest(cookie_token(cookie_header).encode(), expected.encode())


def cookie_token(cookie_header: str | None) -> str:
    """The token cookie's value in a ``Cookie`` header ("" when absent or malformed)."""
    if not cookie_header:
        return ""
    try:
        morsel = SimpleCookie(cookie_header).get(TOKEN_COOKIE)
    except CookieError:
        return ""
    return morsel.value if morsel is not None else ""


def token_cookie(token: str, secure: bool) -> str:
    """The ``Set-Cookie`` value carrying ``token``: not readable by scripts, never sent
    cross-site, over TLS only when the server speaks it."""
    return f"{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")


def reachable_hosts(host: str) -> list[str]:
    """The addresses to print for a server bound to ``host``: the host itself, or for a
    wildcard (0.0.0.0, ::) loopback plus this machine's own addresses."""
    if host not in ("0.0.0.0", "::", ""):
        return [host]
    candidates = [_default_route_address()]
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET, socket.SOCK_STREAM)
        candidates += [str(info[4][0]) for info in infos]
    except OSError:
        pass
    found = ["127.0.0.1"]
    for address in candidates:
        if address and address not in found and not ipaddress.ip_address(address).is_loopback:
            found.append(address)
    return found


def _default_route_address() -> str | None:
    """This machine's address on its default route: connecting a UDP socket picks it
    without sending anything."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere real
            return str(probe.getsockname()[0])
    except OSError:
        return None


def origin_ok(origin: str | None, host_header: str | None) -> bool:
    """A browser's websocket must come from a page this server served (same host:port).
    Non-browser clients send no Origin and are allowed (the token still applies)."""
    if origin is None:
        return True
    if not host_header:
        return False
    return urlsplit(origin).netloc == host_header
