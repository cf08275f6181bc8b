from livefx.stream.server.security import is_loopback, origin_ok, token_for, token_ok


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


def test_origin_check():
    assert origin_ok(None, "127.0.0.1:8080")  # not a browser
    assert origin_ok("http://127.0.0.1:8080", "127.0.0.1:8080")
    assert not origin_ok("http://evil.example", "127.0.0.1:8080")
    assert not origin_ok("http://127.0.0.1:9999", "127.0.0.1:8080")
