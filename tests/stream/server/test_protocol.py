import json

import pytest

from livefx.stream.server.protocol import ProtocolError, error, parse


def test_valid_messages():
    assert parse('{"type": "offer", "sdp": "v=0"}').data["sdp"] == "v=0"
    assert parse('{"type": "budget", "ms": 80}').data["ms"] == 80
    assert parse('{"type": "ping"}').type == "ping"
    assert parse('{"type": "prompt", "prompt": "a fox", "strength": 0.7, "seed": 3}').data["seed"] == 3
    assert parse('{"type": "mix", "value": 0.25}').data["value"] == 0.25
    assert parse('{"type": "mix", "value": 0}').data["value"] == 0
    assert parse('{"type": "mirror", "on": true}').data["on"] is True


@pytest.mark.parametrize(
    "raw, message",
    [
        ("{", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"sdp": "x"}', "missing 'type'"),
        ('{"type": "dance"}', "unknown message type 'dance'"),
        ('{"type": "offer"}', "'offer' needs a 'sdp' field of type string"),
        ('{"type": "style", "name": 3}', "'style' needs a 'name' field of type string"),
        ('{"type": "budget", "ms": true}', "'budget' needs a 'ms' field of type number"),
        ('{"type": "budget", "ms": 0}', "above 0 and at most 60000 ms"),
        (b"\x00\x01", "binary messages"),
        ('{"type": "prompt"}', "'prompt' needs a 'prompt' field of type string"),
        ('{"type": "prompt", "prompt": "x", "strength": 0}', "strength must be a number in"),
        ('{"type": "prompt", "prompt": "x", "strength": "high"}', "strength must be a number in"),
        ('{"type": "prompt", "prompt": "x", "seed": -1}', "seed must be a non-negative integer"),
        ('{"type": "prompt", "prompt": "x", "seed": 1.5}', "seed must be a non-negative integer"),
        (json.dumps({"type": "prompt", "prompt": "x" * 1001}), "at most 1000 characters"),
        ('{"type": "mix"}', "'mix' needs a 'value' field of type number"),
        ('{"type": "mix", "value": "half"}', "'mix' needs a 'value' field of type number"),
        ('{"type": "mix", "value": true}', "'mix' needs a 'value' field of type number"),
        ('{"type": "mix", "value": 1.01}', "'mix' value must be between 0"),
        ('{"type": "mix", "value": -1}', "'mix' value must be between 0"),
        ('{"type": "mix", "value": NaN}', "'mix' value must be between 0"),
        ('{"type": "mirror", "on": "yes"}', "'mirror' needs a 'on' field of type boolean"),
    ],
)
def test_malformed_messages_say_what_is_wrong(raw, message):
    with pytest.raises(ProtocolError, match=message):
        parse(raw)


def test_error_message_shape():
    assert json.loads(error("nope")) == {"type": "error", "message": "nope"}
