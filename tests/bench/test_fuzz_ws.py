"""The websocket fuzz, shortened: every message answered as documented, the server unharmed."""

import json

from livefx.bench.fuzz_ws import main


def test_random_and_mutated_messages_get_documented_answers_beside_a_live_session(tmp_path):
    out = tmp_path / "fuzz"
    code = main(["--messages", "120", "--rounds", "1", "--clients", "2", "--seed", "7", "--out", str(out)])
    doc = json.loads(out.with_suffix(".json").read_text())
    assert code == 0 and doc["unexpected"] == 0, doc["unexpected_examples"]
    assert {k.split()[0] for k in doc["outcomes"]} >= {"bytes", "json", "fields", "offer", "oversized"}
    assert doc["live_session_frames_during_fuzz"] > 0 and not doc["live_session_errors"]
    assert doc["server_lets_a_client_in_after"]
    assert doc["server_after"]["fds"] <= doc["server_before"]["fds"] + 2
