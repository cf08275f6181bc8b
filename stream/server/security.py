"""Safe defaults for a server others can reach: loopback unless told, tokens otherwise."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import parse_qs, urlsplit


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


def token_ok(path: str, expected: str | None) -> bool:
    """True when no token is required or ``?token=`` matches (constant-time)."""
    if expected is None:
        return True
    given = parse_qs(urlsplit(path).query).get("token", [""])[0]
    return hmac.compare_digest(given.encode(), expected.encode())


def origin_ok(origin: str | None, host_header: str | None) -> bool:
    """A browser's websocket must come from a page this server served (same host:port).
    Non-browser clients send no Origin and are allowed (the token still applies)."""
    if origin is None:
        return True
    if not host_header:
        return False
    return urlsplit(origin).netloc == host_header
