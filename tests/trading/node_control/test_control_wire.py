"""The control wire format without Redis: decoding, refusal reasons, encoding, nonce ids."""

from __future__ import annotations

import pytest
import xxhash

from hotpath import types
from trading.engine.control import (
    COMMAND_CODES,
    MALFORMED,
    ack_stream,
    control_stream,
    decode_ack,
    decode_command,
    encode_command,
    nonce_id,
)

NONCE = "0123456789abcdef0123456789abcdef"
GOOD = {
    "command": "KILL",
    "operator_id": "7",
    "operator": "alice",
    "nonce": NONCE,
    "issued_at_ms": "1700000000000",
    "request_id": "req-42",
}


def raw(fields: dict[str, str | bytes]) -> dict[bytes, bytes]:
    return {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in fields.items()}


def test_command_codes_are_the_engine_control_commands():
    assert COMMAND_CODES == {
        "KILL": 1, "CANCEL_ALL": 2, "REDUCE_ONLY": 3, "DISCONNECT": 4, "RESUME": 5, "RELOAD_CONFIG": 6,
    }  # fmt: skip
    assert (
        COMMAND_CODES["KILL"] == types.CTL_KILL and COMMAND_CODES["RELOAD_CONFIG"] == types.CTL_RELOAD_CONFIG
    )


def test_stream_keys_and_node_names():
    assert control_stream("n1") == "atomic:node:n1:control"
    assert ack_stream("n1") == "atomic:node:n1:control-ack"
    with pytest.raises(ValueError, match="node name"):
        control_stream("N1 bad")


def test_nonce_id_is_xxh3_masked_to_63_bits():
    nonces = [f"{i:032x}" for i in range(64)] + [NONCE]
    full = [xxhash.xxh3_64_intdigest(n.encode()) for n in nonces]
    assert any(h >= 1 << 63 for h in full), "the sample must include hashes with the top bit set"
    assert [nonce_id(n) for n in nonces] == [h & ((1 << 63) - 1) for h in full]
    assert len(set(map(nonce_id, nonces))) == len(nonces)


def test_a_good_entry_decodes_to_every_field():
    cmd = decode_command("5-1", raw(GOOD), received_ms=1700000000100)
    assert cmd.accepted and cmd.verdict.reason == ""
    assert (cmd.command, cmd.command_code, cmd.operator_id, cmd.operator) == ("KILL", 1, 7, "alice")
    assert (cmd.nonce, cmd.nonce_id) == (NONCE, nonce_id(NONCE))
    assert (cmd.issued_at_ms, cmd.request_id, cmd.config_version) == (1700000000000, "req-42", None)
    assert (cmd.entry_id, cmd.received_ms) == ("5-1", 1700000000100)


def test_reload_config_carries_its_version():
    cmd = decode_command("1-0", raw({**GOOD, "command": "RELOAD_CONFIG", "config_version": "12"}), 0)
    assert cmd.accepted and cmd.command_code == 6 and cmd.config_version == 12


@pytest.mark.parametrize("field", list(GOOD))
def test_each_missing_field_is_refused_as_malformed(field):
    fields = {k: v for k, v in GOOD.items() if k != field}
    cmd = decode_command("1-0", raw(fields), 0)
    assert not cmd.accepted and cmd.verdict.kind == MALFORMED
    assert cmd.verdict.reason.startswith("malformed: ")
    assert f"missing field {field!r}" in cmd.verdict.reason


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("command", "FOO", "unknown command 'FOO'"),
        ("command", "kill", "unknown command 'kill'"),
        ("operator_id", "abc", "operator_id must be an integer"),
        ("operator_id", "0", "operator_id must be an integer in [1"),
        ("operator_id", "-3", "operator_id must be an integer"),
        ("operator_id", "1.5", "operator_id must be an integer"),
        ("operator_id", "007", "operator_id must be an integer"),
        ("operator_id", "99999999999999999999", "operator_id must be an integer"),
        ("operator_id", "9223372036854775808", "operator_id must be an integer"),
        ("operator", "", "operator must be 1-150 printable characters"),
        ("operator", "x" * 151, "operator must be 1-150 printable characters"),
        ("operator", "bad\nname", "operator must be 1-150 printable characters"),
        ("nonce", "short", "nonce must be 16-64 of"),
        ("nonce", "has space 0123456789abcdef", "nonce must be 16-64 of"),
        ("nonce", "n" * 65, "nonce must be 16-64 of"),
        ("issued_at_ms", "yesterday", "issued_at_ms must be an integer"),
        ("issued_at_ms", "", "issued_at_ms must be an integer"),
        ("request_id", "", "request_id must be 1-128 of"),
        ("request_id", "r" * 129, "request_id must be 1-128 of"),
        ("request_id", "a b", "request_id must be 1-128 of"),
        ("operator", b"\xff\xfe", "operator is not UTF-8"),
        ("operator", "x" * 2000, "operator is longer than 1024 bytes"),
    ],
)
def test_garbage_fields_are_refused_with_the_reason(field, value, says):
    cmd = decode_command("1-0", raw({**GOOD, field: value}), 0)
    assert not cmd.accepted and cmd.verdict.kind == MALFORMED
    assert says in cmd.verdict.reason, cmd.verdict.reason


def test_unknown_command_keeps_a_zero_code_and_the_valid_fields():
    cmd = decode_command("1-0", raw({**GOOD, "command": "LAUNCH"}), 0)
    assert not cmd.accepted and cmd.command == "" and cmd.command_code == types.CTL_NONE
    # The ack of a refused entry still reaches its sender: nonce and request id survive.
    assert cmd.nonce == NONCE and cmd.nonce_id == nonce_id(NONCE) and cmd.request_id == "req-42"


def test_bad_nonce_gives_nonce_id_zero():
    cmd = decode_command("1-0", raw({**GOOD, "nonce": "x"}), 0)
    assert cmd.nonce == "" and cmd.nonce_id == 0 and cmd.operator_id == 7


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({**GOOD, "extra": "1"}, "unknown field 'extra'"),
        ({**GOOD, "command": "RELOAD_CONFIG"}, "missing field 'config_version'"),
        ({**GOOD, "command": "RELOAD_CONFIG", "config_version": "v2"}, "config_version must be an integer"),
        ({**GOOD, "config_version": "3"}, "config_version is only allowed with RELOAD_CONFIG, not KILL"),
    ],
)
def test_field_set_is_strict(fields, says):
    cmd = decode_command("1-0", raw(fields), 0)
    assert not cmd.accepted and says in cmd.verdict.reason, cmd.verdict.reason


def test_several_errors_are_all_named():
    cmd = decode_command("1-0", raw({"command": "KILL", "operator_id": "x"}), 0)
    reason = cmd.verdict.reason
    for part in (
        "operator_id must be",
        "missing field 'operator'",
        "missing field 'nonce'",
        "missing field 'request_id'",
    ):
        assert part in reason


def test_encode_refuses_what_the_node_would_refuse():
    fields = encode_command("RELOAD_CONFIG", operator_id=3, operator="bob", nonce=NONCE, issued_at_ms=5,
                            request_id="r1", config_version=9)  # fmt: skip
    assert fields["config_version"] == "9" and fields["operator_id"] == "3"
    assert decode_command("1-0", raw(fields), 0).accepted
    with pytest.raises(ValueError, match="unknown command"):
        encode_command("EXPLODE", operator_id=3, operator="bob", nonce=NONCE, issued_at_ms=5, request_id="r1")
    with pytest.raises(ValueError, match="RELOAD_CONFIG needs config_version"):
        encode_command(
            "RELOAD_CONFIG", operator_id=3, operator="bob", nonce=NONCE, issued_at_ms=5, request_id="r1"
        )
    with pytest.raises(ValueError, match="operator_id"):
        encode_command("KILL", operator_id=0, operator="bob", nonce=NONCE, issued_at_ms=5, request_id="r1")
    with pytest.raises(ValueError, match="operator_id and issued_at_ms must be integers"):
        encode_command("KILL", operator_id="3", operator="bob", nonce=NONCE, issued_at_ms=5, request_id="r1")


def test_decode_ack():
    ack = decode_ack("9-0", raw({"nonce": NONCE, "request_id": "r", "command": "KILL", "accepted": "0",
                                 "reason": "stale: x", "trading_state": "2", "seq": "17", "acked_at_ms": "5"}))  # fmt: skip
    assert ack is not None and not ack.accepted and ack.reason == "stale: x"
    assert (ack.trading_state, ack.seq, ack.acked_at_ms, ack.entry_id) == (2, 17, 5, "9-0")
    assert decode_ack("9-0", raw({"nonce": NONCE, "accepted": "maybe"})) is None
    bad_state = {"nonce": NONCE, "request_id": "r", "accepted": "1", "reason": "", "trading_state": "7",
                 "seq": "1", "acked_at_ms": "5"}  # fmt: skip
    assert decode_ack("9-0", raw(bad_state)) is None
