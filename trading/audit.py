"""The audit trail: the only writer of AuditEntry, and its verifier.

Each entry's `entry_hash` is an HMAC-SHA256 (key derived from SECRET_KEY) of its canonical
content, which includes the previous entry's hash and a contiguous `seq`. So:

- an edited row no longer matches its hash;
- a deleted row leaves a hole in `seq` and breaks the next row's `prev_hash`;
- rewriting the chain from some row on needs the key, which is not in the database;
- deleting the newest rows is found by comparing with a head recorded elsewhere
  (`audit_verify` prints it; `--anchor SEQ:HASH` checks it).

Entries are serialised by a transaction-scoped advisory lock, so concurrent actions never fork
the chain; the lock is held to the end of the caller's transaction, which is what makes the
audit row commit together with the change it describes.
"""

from __future__ import annotations

import datetime as dt
import decimal
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from trading.audit_models import AuditEntry

GENESIS = "0" * 64
HMAC_SALT = "atomic_ops.audit.chain"
ADVISORY_LOCK_KEY = 0x41_55_44_49_54  # "AUDIT": one chain, one writer at a time
MAX_VALUE_DEPTH = 32
MAX_VALUE_BYTES = 256 * 1024


class AuditError(ValueError):
    pass


@dataclass(frozen=True)
class Actor:
    """Who acts and from where: a console user (with the request's address and id) or a
    system component (user None, username "system:<name>")."""

    user: object | None
    username: str
    source_ip: str | None = None
    request_id: str = ""

    @classmethod
    def system(cls, name: str, request_id: str = "") -> Actor:
        return cls(user=None, username=f"system:{name}", request_id=request_id)

    @classmethod
    def from_request(cls, request) -> Actor:
        user = (
            request.user
            if getattr(request, "user", None) is not None and request.user.is_authenticated
            else None
        )
        return cls(
            user=user,
            username=user.get_username() if user is not None else "anonymous",
            source_ip=normalise_ip(request.META.get("REMOTE_ADDR")),
            request_id=getattr(request, "request_id", ""),
        )


def normalise_ip(value: object) -> str | None:
    """The address as PostgreSQL's inet gives it back (so the hash survives the round trip):
    IPv6 compressed and lower case, an IPv4-mapped one with its IPv4 part dotted; None for
    anything that is not an address (zone ids included: inet has none)."""
    if not isinstance(value, str) or not value or len(value) > 64 or "%" in value:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


def canonical_value(value: object, depth: int = 0) -> object:
    """What a before/after value is stored as: JSON types only, identical after a round trip
    through jsonb (so its hash can be recomputed from the row). Decimals, floats, dates become
    strings; NUL characters (which jsonb refuses) are spelled out."""
    if depth > MAX_VALUE_DEPTH:
        raise AuditError("audit value nested too deeply")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            return str(value)
        return value
    if isinstance(value, str):
        return value.replace("\x00", "\\x00")
    if isinstance(value, (float, decimal.Decimal)):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [canonical_value(item, depth + 1) for item in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                key = str(key)
            out[key.replace("\x00", "\\x00")] = canonical_value(item, depth + 1)
        return out
    raise AuditError(f"cannot audit a value of type {type(value).__name__}")


def _content(entry: AuditEntry) -> bytes:
    at = entry.at.astimezone(dt.UTC).isoformat(timespec="microseconds")
    return orjson.dumps(
        [
            entry.seq,
            at,
            entry.actor_id,
            entry.actor_username,
            entry.source_ip,
            entry.action,
            entry.target_type,
            entry.target_id,
            entry.before,
            entry.after,
            entry.request_id,
            entry.prev_hash,
        ],
        option=orjson.OPT_SORT_KEYS,
    )


def entry_hash(entry: AuditEntry, secret: str | None = None) -> str:
    return salted_hmac(HMAC_SALT, _content(entry), secret=secret, algorithm="sha256").hexdigest()


def _check_text(name: str, value: object, limit: int, *, required: bool = True) -> str:
    if not isinstance(value, str) or (required and not value) or len(value) > limit:
        raise AuditError(
            f"audit {name} must be a {'non-empty ' if required else ''}string of at most {limit} characters"
        )
    return value


def record_audit(
    actor: Actor,
    action: str,
    target_type: str,
    target_id: object,
    *,
    before: object = None,
    after: object = None,
) -> AuditEntry:
    """Append one entry to the chain, in the caller's transaction (opened here if none)."""
    before, after = canonical_value(before), canonical_value(after)
    if len(orjson.dumps([before, after])) > MAX_VALUE_BYTES:
        raise AuditError(f"audit before/after exceed {MAX_VALUE_BYTES} bytes")
    entry = AuditEntry(
        at=timezone.now(),
        actor=actor.user,
        actor_username=_check_text("actor", actor.username, 150),
        source_ip=normalise_ip(actor.source_ip),
        action=_check_text("action", action, 64),
        target_type=_check_text("target type", target_type, 64),
        target_id=_check_text("target id", str(target_id), 128),
        before=before,
        after=after,
        request_id=_check_text("request id", actor.request_id or "", 64, required=False),
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
        head = AuditEntry.objects.order_by("-seq").values_list("seq", "entry_hash").first()
        entry.seq, entry.prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS)
        entry.entry_hash = entry_hash(entry)
        entry.save(force_insert=True)
    return entry


@dataclass
class ChainReport:
    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def problem(self, text: str, keep: int = 50) -> None:
        self.problem_count += 1
        if len(self.problems) < keep:
            self.problems.append(text)


def _secrets() -> Iterator[str]:
    yield settings.SECRET_KEY
    yield from getattr(settings, "SECRET_KEY_FALLBACKS", [])


def verify_chain(anchor: tuple[int, str] | None = None, chunk_size: int = 5000) -> ChainReport:
    """Walk the whole chain in seq order: contiguous seq, every prev_hash the previous hash,
    every hash recomputed (under SECRET_KEY or one of its fallbacks). With `anchor` (seq, hash)
    recorded earlier, also prove that entry is still there, unchanged."""
    report = ChainReport()
    expected_seq, previous = 1, GENESIS
    anchor_seen = anchor is None
    for entry in AuditEntry.objects.order_by("seq").iterator(chunk_size=chunk_size):
        report.entries += 1
        if entry.seq != expected_seq:
            report.problem(f"seq {expected_seq}..{entry.seq - 1} missing (deleted?)")
        if not constant_time_compare(entry.prev_hash, previous):
            report.problem(f"seq {entry.seq}: prev_hash does not match the hash of the entry before it")
        if not any(constant_time_compare(entry.entry_hash, entry_hash(entry, key)) for key in _secrets()):
            report.problem(f"seq {entry.seq}: content does not match its hash (edited?)")
        if anchor is not None and entry.seq == anchor[0]:
            anchor_seen = True
            if not constant_time_compare(entry.entry_hash, anchor[1]):
                report.problem(f"seq {entry.seq}: hash differs from the anchor")
        expected_seq, previous = entry.seq + 1, entry.entry_hash
        report.head_seq, report.head_hash = entry.seq, entry.entry_hash
    if not anchor_seen:
        report.problem(
            f"anchor seq {anchor[0]} is beyond the newest entry {report.head_seq} (entries deleted?)"
        )
    return report
