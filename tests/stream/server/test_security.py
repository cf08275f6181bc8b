from livefx.stream.server.security import (
    TOKEN_COOKIE,
    is_loopback,
    origin_ok,
    reachable_hosts,
    token_cookie,
    token_for,
    token_ok,
)


def test_loopback_needs_no_token_other_hosts_get_one():
    assert token_for("127.0.0.1", None) is None
    assert token_for("localhost", None) is None
    assert token_for("::1", None) is None
    generated = token_for("0.0.0.0", None)
    assert generated and len(generated) >= 20
    assert token_for("0.0.0.0", None) != generated
    assert token_for("127.0.0.1", "mine") == "mine"
    assert not is_loopback("192.168.1.2")


def test_token_check():
    assert token_ok("/ws", None)
    assert token_ok("/ws?token=s3cret", "s3cret")
    assert not token_ok("/ws", "s3cret")
    assert not token_ok("/ws?token=s3cre", "s3cret")
    assert not token_ok("/?token=", "s3cret")
    assert token_ok("/app.js", "s3cret", f"other=1; {TOKEN_COOKIE}=s3cret")
    assert not token_ok("/app.js", "s3cret", f"{TOKEN_COOKIE}=s3cre")
    assert not token_ok("/app.js", "s3cret", 'bad"cookie;;=')
    assert not token_ok("/app.js", "s3cret", None)


def test_the_cookie_is_scoped_and_hidden_from_scripts():
    cookie = token_cookie("s3cret", secure=False)
    assert cookie.startswith(f"{TOKEN_COOKIE}=s3cret;") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie and "Secure" in token_cookie("s3cret", secure=True)


def test_a_wildcard_host_is_printed_as_reachable_addresses():
    assert reachable_hosts("127.0.0.1") == ["127.0.0.1"]
    hosts = reachable_hosts("0.0.0.0")
    assert hosts[0] == "127.0.0.1" and "0.0.0.0" not in hosts


def test_origin_check():
    assert origin_ok(None, "127.0.0.1:8080")  # not a browser
    assert origin_ok("http://127.0.0.1:8080", "127.0.0.1:8080")
    assert not origin_ok("http://evil.example", "127.0.0.1:8080")
    assert not origin_ok("http://127.0.0.1:9999", "127.0.0.1:8080")
