"""The audit trail: append-only in PostgreSQL, hash-chained, verified by audit_verify."""

from __future__ import annotations

import datetime as dt
import ipaddress
import threading
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.test import override_settings

from trading.audit import GENESIS, Actor, AuditError, canonical_value, record_audit, verify_chain
from trading.models import AuditEntry

SYSTEM = Actor.system("tests", request_id="req-test-0001")


def entries(n: int, actor: Actor = SYSTEM) -> list[AuditEntry]:
    return [
        record_audit(actor, "test.action", "node", f"n{k}", before={"k": k}, after={"k": k + 1})
        for k in range(n)
    ]


def tamper(sql: str, params=()) -> None:
    """What a superuser could do: switch the triggers off, change the table, switch them on."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE trading_auditentry DISABLE TRIGGER USER")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE trading_auditentry ENABLE TRIGGER USER")


@pytest.mark.django_db
def test_entries_form_a_contiguous_chain_that_verifies(make_user):
    user = make_user("operator")
    actor = Actor(user=user, username=user.username, source_ip="2001:0db8:0000::1", request_id="r-123456789")
    first = record_audit(
        actor, "node.kill", "node", "tokyo-1", before={"state": "ACTIVE"}, after={"state": "HALTED"}
    )
    assert (first.seq, first.prev_hash) == (1, GENESIS)
    assert (
        first.source_ip == "2001:db8::1"
        and first.actor_id == user.pk
        and first.actor_username == user.username
    )
    rest = entries(4)
    assert [e.seq for e in rest] == [2, 3, 4, 5]
    assert [e.prev_hash for e in rest] == [first.entry_hash] + [e.entry_hash for e in rest[:-1]]
    report = verify_chain()
    assert (
        report.ok and report.entries == 5 and report.head_seq == 5 and report.head_hash == rest[-1].entry_hash
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE trading_auditentry SET action = 'nothing' WHERE seq = 1",
        "DELETE FROM trading_auditentry WHERE seq = 1",
        "DELETE FROM trading_auditentry",
    ],
)
def test_the_database_refuses_updates_and_deletes(sql):
    entries(2)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(seq=2).update(action="x")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.get(seq=2).delete()
    assert AuditEntry.objects.count() == 2 and verify_chain().ok


@pytest.mark.django_db
def test_truncate_is_refused_outside_the_test_settings_switch():
    entries(1)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET LOCAL atomic_ops.allow_audit_truncate = 'off'")
        cursor.execute("TRUNCATE trading_auditentry")
    assert AuditEntry.objects.count() == 1


@pytest.mark.django_db
def test_an_edited_entry_is_found():
    entries(5)
    tamper("UPDATE trading_auditentry SET after = '{\"k\": 999}' WHERE seq = 3")
    report = verify_chain()
    assert not report.ok and report.problems == ["seq 3: content does not match its hash (edited?)"]
    with pytest.raises(CommandError, match="BROKEN: 1 problem"):
        call_command("audit_verify")


@pytest.mark.django_db
def test_an_edit_with_a_recomputed_plain_sha256_is_still_found():
    """Without the key (not in the database) a forger cannot recompute a valid hash."""
    import hashlib

    entries(3)
    forged = hashlib.sha256(b"forged").hexdigest()
    tamper(
        "UPDATE trading_auditentry SET actor_username = 'someone-else', entry_hash = %s WHERE seq = 3",
        [forged],
    )
    assert verify_chain().problems == ["seq 3: content does not match its hash (edited?)"]


@pytest.mark.django_db
def test_a_deleted_entry_is_found():
    entries(5)
    tamper("DELETE FROM trading_auditentry WHERE seq = 2")
    problems = verify_chain().problems
    assert "seq 2..2 missing (deleted?)" in problems
    assert "seq 3: prev_hash does not match the hash of the entry before it" in problems


@pytest.mark.django_db
def test_reordered_entries_are_found():
    entries(4)
    tamper("UPDATE trading_auditentry SET seq = seq + 100 WHERE seq IN (2, 3)")
    tamper("UPDATE trading_auditentry SET seq = 5 - (seq - 100) WHERE seq > 100")  # 2 <-> 3
    assert not verify_chain().ok


@pytest.mark.django_db
def test_deleting_the_newest_entries_is_found_against_an_anchor(capsys):
    made = entries(4)
    call_command("audit_verify")
    out = capsys.readouterr().out
    assert f"head 4:{made[-1].entry_hash}" in out and "intact: 4 entries" in out
    anchor = f"4:{made[-1].entry_hash}"
    tamper("DELETE FROM trading_auditentry WHERE seq >= 3")
    assert verify_chain().ok, "a shortened chain is still a chain..."
    with pytest.raises(CommandError, match="BROKEN"):
        call_command("audit_verify", "--anchor", anchor)  # ... but not the one recorded
    assert "beyond the newest entry 2" in capsys.readouterr().err
    call_command("audit_verify", "--anchor", f"2:{made[1].entry_hash}")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "anchor",
    [
        "",
        "4",
        "0:" + "a" * 64,
        "-1:" + "a" * 64,
        "4:" + "g" * 64,
        "4:" + "a" * 63,
        "4:aa;DROP",
        "9" * 30 + ":" + "a" * 64,
    ],
)
def test_bad_anchors_are_refused(anchor):
    with pytest.raises(CommandError, match="--anchor must be SEQ:HASH"):
        call_command("audit_verify", f"--anchor={anchor}")


@pytest.mark.django_db
def test_entries_made_before_a_key_rotation_verify_with_the_fallback_key():
    with override_settings(SECRET_KEY="old-key-" + "x" * 50):
        entries(2)
    with override_settings(SECRET_KEY="new-key-" + "y" * 50, SECRET_KEY_FALLBACKS=["old-key-" + "x" * 50]):
        entries(1)
        assert verify_chain().ok
    with override_settings(SECRET_KEY="new-key-" + "y" * 50, SECRET_KEY_FALLBACKS=[]):
        assert verify_chain().problem_count == 2, "without the old key its entries cannot be trusted"


@pytest.mark.django_db
def test_awkward_values_are_stored_so_that_they_still_verify():
    value = {
        "nul": "a\x00b",
        "decimal": Decimal("12345678901234567890.123456789"),
        "float": 0.1,
        "big": 2**70,
        "when": dt.datetime(2026, 11, 22, 1, 2, 3, 456789, tzinfo=dt.UTC),
        "nested": [[1, {"2": (3,)}]],
        5: "int key",
        "unicode": "ü€😀",
    }
    entry = record_audit(SYSTEM, "odd", "x", "ü" * 128, before=value, after=None)
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert stored.before["nul"] == "a\\x00b" and stored.before["decimal"] == "12345678901234567890.123456789"
    assert stored.before["big"] == str(2**70) and stored.before["5"] == "int key"
    assert verify_chain().ok


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"before": object()}, "cannot audit a value of type object"),
        ({"after": {"x": {1, 2}}}, "cannot audit a value of type set"),
        ({"after": "x" * 300_000}, "exceed"),
        ({"action": ""}, "action must be a non-empty string"),
        ({"action": "a" * 65}, "action"),
        ({"target_type": None}, "target type"),
        ({"target_id": "t" * 129}, "target id"),
    ],
)
def test_bad_entries_are_refused_and_nothing_is_written(kwargs, message):
    args = {"action": "a", "target_type": "node", "target_id": "n1"}
    args.update({k: v for k, v in kwargs.items() if k in args})
    values = {k: v for k, v in kwargs.items() if k in ("before", "after")}
    with pytest.raises(AuditError, match=message):
        record_audit(SYSTEM, args["action"], args["target_type"], args["target_id"], **values)
    assert AuditEntry.objects.count() == 0


def test_deeply_nested_values_are_refused():
    value: list = []
    for _ in range(40):
        value = [value]
    with pytest.raises(AuditError, match="nested too deeply"):
        canonical_value(value)


@pytest.mark.django_db
def test_bad_actor_fields_are_refused_and_bad_addresses_dropped():
    with pytest.raises(AuditError, match="actor"):
        record_audit(Actor(user=None, username=""), "a", "b", "c")
    with pytest.raises(AuditError, match="request id"):
        record_audit(Actor(user=None, username="x", request_id="r" * 65), "a", "b", "c")
    for address in ("not an ip", "1.2.3.4.5", "x" * 100, "fe80::1%eth0", "", None, 17):
        assert (
            record_audit(Actor(user=None, username="x", source_ip=address), "a", "b", "c").source_ip is None
        )
    assert verify_chain().ok


@pytest.mark.django_db
@pytest.mark.parametrize(
    "address",
    ["10.0.0.1", "::ffff:10.0.0.1", "::FFFF:0A00:0001", "2001:0DB8:0000:0000:0000:0000:0000:0001", "::1", "::",
     "fe80::1", "1::", " 192.168.1.1 "],
)  # fmt: skip
def test_addresses_are_stored_as_postgresql_gives_them_back(address):
    entry = record_audit(Actor(user=None, username="x", source_ip=address), "a", "b", "c")
    stored = AuditEntry.objects.get(pk=entry.pk).source_ip
    assert stored == entry.source_ip and ipaddress.ip_address(stored) == ipaddress.ip_address(address.strip())
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain():
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(15):
                record_audit(Actor.system(f"w{k}"), "concurrent", "node", f"{k}-{i}")
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    report = verify_chain()
    assert report.ok and report.entries == 60
    assert sorted(AuditEntry.objects.values_list("seq", flat=True)) == list(range(1, 61))
